//! Bounded, ordered parallel work: the per-environment proofs (a Python
//! started as the notebook user in each environment) run at once, as many
//! as the machine may use, and their results come back in the input's
//! order so reports stay stable. Making a thread never panics: without
//! one, the work runs on fewer threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// How many workers: the CPUs this process may use (the cgroup's quota
/// included, so a unit with `CPUQuota=` gets fewer).
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` over every item, on up to [`workers`] threads, results in order.
/// One item, or one worker, runs on the caller's thread.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_with(workers(), items, f)
}

/// [`map`] with an explicit number of workers.
pub fn map_with<T: Sync, R: Send>(
    workers: usize,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let work = |tx: mpsc::Sender<(usize, R)>| {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            if tx.send((i, f(item))).is_err() {
                break;
            }
        }
    };
    std::thread::scope(|scope| {
        // A thread that cannot be made (a cgroup's task limit, which the
        // notebook user's processes can use up) means fewer workers; the
        // caller's thread is always one of them.
        for _ in 1..workers {
            let tx = tx.clone();
            let work = &work;
            if std::thread::Builder::new()
                .spawn_scoped(scope, move || work(tx))
                .is_err()
            {
                break;
            }
        }
        work(tx.clone());
    });
    drop(tx);
    let mut done: Vec<(usize, R)> = rx.into_iter().collect();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn results_keep_the_input_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..16).collect();
        // Earlier items take longer, so they finish last.
        let out = map_with(4, &items, |i| {
            std::thread::sleep(Duration::from_millis(16 - i));
            i * 10
        });
        assert_eq!(out, items.iter().map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn no_more_than_the_workers_run_at_once() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items = [(); 12];
        map_with(3, &items, |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert!(map_with(3, &[] as &[u8], |x| *x).is_empty());
    }
}
