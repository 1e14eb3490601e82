//! Shrinking: proptest's way (simplify while a sequence still shows a difference, complicate when it does not),
//! then past it, removing single moves and replacing fills and groups by simpler moves.

use super::*;

/// Shrinks a sequence that showed a difference as proptest shrinks a failing case (simplify while it still
/// fails, complicate when it passes), at most `config.max_shrink_iters` runs and five minutes (a hanging host
/// costs a whole timeout per run); returns the simplest sequence that showed a difference.
pub(super) fn shrink<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    last: &Mutex<Log>,
    tree: &mut Tree,
    config: &FuzzConfig,
    runs: &AtomicU64,
) -> Result<Vec<Move>, String> {
    const MAX_TIME: std::time::Duration = std::time::Duration::from_secs(300);
    let start = std::time::Instant::now();
    let mut iterations = 0;
    if config.max_shrink_iters > 0 && tree.simplify() {
        loop {
            if iterations >= config.max_shrink_iters || start.elapsed() > MAX_TIME {
                // Back to the last sequence that showed a difference.
                while tree.complicate() {}
                break;
            }
            iterations += 1;
            runs.fetch_add(1, Ordering::SeqCst);
            let (_, moves, seen) = tree.current();
            let run = run_moves(runner, setup, &moves, take_log(last, &moves))?;
            run.tell_reached(moves.len(), seen.as_deref());
            let more = if run.difference.is_some() {
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !more {
                break;
            }
        }
    }
    Ok(tree.current().1)
}

/// Removes moves one at a time while the sequence stays valid and still shows a difference, until no single
/// move can go (proptest's shrinking removes moves in one pass from the back; this finishes the job).
pub(super) fn minimise<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    mut moves: Vec<Move>,
    runs: &AtomicU64,
) -> Vec<Move> {
    let mut changed = true;
    while changed {
        changed = false;
        for candidate in simpler(&moves) {
            if candidate.is_empty() {
                continue;
            }
            // A candidate that is no valid sequence (a removed open its operations needed) is passed over.
            let Ok(generated) = build(setup, &candidate, SEQUENCE_ID, "", None) else {
                continue;
            };
            runs.fetch_add(1, Ordering::SeqCst);
            if let Ok(SequenceRun {
                difference: Some(_),
                ..
            }) = run_generated(runner, setup, &generated, candidate.len())
            {
                moves = candidate;
                changed = true;
                break;
            }
        }
    }
    moves
}

/// The sequences one step simpler than `moves`: one move fewer (from the back), a fill of the open-store
/// table replaced by a single open, a fill of a store by two sets, one operation fewer in a concurrent group.
pub(super) fn simpler(moves: &[Move]) -> Vec<Vec<Move>> {
    let mut out = Vec::new();
    for i in (0..moves.len()).rev() {
        let mut fewer = moves.to_vec();
        fewer.remove(i);
        out.push(fewer);
        let replaced: Vec<Move> = match &moves[i] {
            Move::OpenMany => vec![Move::Open {
                label: DEFAULT_LABEL.into(),
            }],
            // Two keys instead of a thousand, where two show the difference too.
            Move::Fill { slot, .. } => {
                let set = |key: &str| {
                    Move::Op(OpEntry {
                        key: Some(KeySpec::Text(key.into())),
                        value: Some(ValueSpec::Text("x".into())),
                        ..entry(OpKind::Set, *slot)
                    })
                };
                let mut c = moves.to_vec();
                c.splice(i..=i, [set("f0"), set("f1")]);
                out.push(c);
                Vec::new()
            }
            Move::Together(members) if members.len() == 1 => vec![Move::Op(members[0].clone())],
            Move::Together(members) => (0..members.len())
                .map(|j| {
                    let mut m = members.clone();
                    m.remove(j);
                    Move::Together(m)
                })
                .collect(),
            _ => Vec::new(),
        };
        for r in replaced {
            let mut c = moves.to_vec();
            c[i] = r;
            out.push(c);
        }
    }
    out
}
