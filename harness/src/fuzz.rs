//! Generated operation sequences (work in progress).
