//! The search: sequences generated from one RNG, run on as many threads as the executor runs cases at once,
//! judged in the order they were generated.

use super::*;

/// The generator's value tree of one sequence: its state, its moves, and where the shrinking learns how many
/// moves the host's run reached.
pub(super) type Tree =
    <Sequential<GenState, Move, BoxedStrategy<GenState>, BoxedStrategy<Move>> as Strategy>::Tree;

/// What the search before shrinking found.
pub(super) struct Search {
    /// Sequences that passed, in order.
    pub(super) passed: u64,
    /// Operations of the sequences run (the failing one included).
    pub(super) operations: u64,
    /// The value tree of the first sequence that showed a difference.
    pub(super) failing: Option<Tree>,
    /// A fault in kvconf (an invalid generated case, the generator giving up).
    pub(super) error: Option<String>,
}

/// A sequence sent to a thread and not yet judged.
struct InFlight {
    /// Its place in the search, from 0.
    index: u64,
    tree: Tree,
    /// How many moves it has.
    moves: usize,
    /// Where the shrinking learns how many of them the host's run reached.
    seen: Option<Arc<AtomicUsize>>,
}

/// Generates and runs up to `config.sequences` sequences until one shows a difference. Sequences run on threads
/// of their own (as many as the executor runs cases at once) while this one generates and writes the next ones:
/// generating takes about a third of a sequence's time, running it the rest. The sequences and their order are
/// those of one thread (the generator draws from one RNG, in order, and results are taken in that order, the
/// first difference being the one kept), so a seed finds the same difference however the threads are
/// scheduled; a sequence already running when an earlier one shows a difference runs to its end, unjudged.
pub(super) fn search<E: Executor + ?Sized>(
    runner: &E,
    setup: &Arc<Setup>,
    strategy: &impl Strategy<Value = (GenState, Vec<Move>, Option<Arc<AtomicUsize>>), Tree = Tree>,
    last: &Mutex<Log>,
    test_runner: &mut TestRunner,
    config: &FuzzConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Search {
    let mut search = Search {
        passed: 0,
        operations: 0,
        failing: None,
        error: None,
    };
    // One thread per case the host may run at once, each sent every `lanes`-th sequence under a case ID of its
    // own (so that in-process each has its own case directory).
    let lanes = runner.concurrent_cases().max(1);
    let (results_tx, results) = std::sync::mpsc::channel::<(u64, Result<SequenceRun, String>)>();
    std::thread::scope(|scope| {
        // Returning drops the senders, which ends each thread once it has run what it was sent.
        let mut queues = Vec::with_capacity(lanes);
        let results_tx = results_tx;
        for _ in 0..lanes {
            let (jobs, queue) = std::sync::mpsc::sync_channel::<(u64, Generated, usize)>(1);
            queues.push(jobs);
            let results = results_tx.clone();
            scope.spawn(move || {
                for (index, generated, moves) in queue {
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_generated(runner, setup, &generated, moves)
                    }))
                    .unwrap_or_else(|panic| {
                        Err(format!(
                            "kvconf panicked running a generated sequence: {}",
                            crate::runner::panic_message(&*panic)
                        ))
                    });
                    if results.send((index, run)).is_err() {
                        break;
                    }
                }
            });
        }
        // Only the threads answer: once they have all gone, `recv` says so instead of waiting.
        drop(results_tx);
        // Sequences sent to the host and not yet judged, oldest first (each lane one running, one waiting), and
        // the results that came back before an older sequence's.
        let mut in_flight: std::collections::VecDeque<InFlight> = std::collections::VecDeque::new();
        let mut arrived: BTreeMap<u64, Result<SequenceRun, String>> = BTreeMap::new();
        let mut generated: u64 = 0;
        // A fault met writing a sequence ahead: reported once the sequences before it are judged, since one of
        // them may show a difference first (as when each sequence was written only after the last was judged).
        let mut fault_ahead: Option<String> = None;
        loop {
            while fault_ahead.is_none()
                && in_flight.len() < 2 * lanes
                && generated < u64::from(config.sequences)
            {
                reseed(test_runner.rng());
                let tree = match strategy.new_tree(test_runner) {
                    Ok(tree) => tree,
                    Err(reason) => {
                        fault_ahead = Some(format!("the generator gave up: {reason}"));
                        break;
                    }
                };
                let lane = (generated % lanes as u64) as usize;
                let id = match lane {
                    0 => SEQUENCE_ID.to_string(),
                    n => format!("{SEQUENCE_ID}-{}", n + 1),
                };
                let (_, moves, seen) = tree.current();
                let written = match write_moves(setup, &moves, take_log(last, &moves), &id) {
                    Ok(written) => written,
                    Err(e) => {
                        fault_ahead = Some(e);
                        break;
                    }
                };
                if queues[lane]
                    .send((generated, written, moves.len()))
                    .is_err()
                {
                    fault_ahead = Some("a thread running generated sequences has gone".into());
                    break;
                }
                in_flight.push_back(InFlight {
                    index: generated,
                    tree,
                    moves: moves.len(),
                    seen,
                });
                generated += 1;
            }
            let Some(sequence) = in_flight.pop_front() else {
                search.error = fault_ahead;
                return;
            };
            let run = loop {
                if let Some(run) = arrived.remove(&sequence.index) {
                    break run;
                }
                match results.recv() {
                    Ok((i, run)) => {
                        arrived.insert(i, run);
                    }
                    Err(_) => {
                        search.error = Some("a thread running generated sequences has gone".into());
                        return;
                    }
                }
            };
            match run {
                Err(e) => {
                    search.error = Some(e);
                    return;
                }
                Ok(run) => {
                    search.operations += run.operations as u64;
                    progress(run.operations as u64);
                    run.tell_reached(sequence.moves, sequence.seen.as_deref());
                    if run.difference.is_some() {
                        search.failing = Some(sequence.tree);
                        return;
                    }
                    search.passed += 1;
                }
            }
        }
    });
    search
}

/// Gives `rng` a fresh ChaCha state seeded from its own next 32 draws, as proptest's runner does before each
/// case (`TestRunner::run`), so that a seed generates the sequences it generated when proptest's runner ran the
/// search.
pub(super) fn reseed(rng: &mut TestRng) {
    let mut seed = [0u8; 32];
    for byte in &mut seed {
        // rand samples a byte as the low byte of a 32-bit draw.
        *byte = rng.next_u32() as u8;
    }
    *rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
}
