//! Concurrent histories (work in progress).
