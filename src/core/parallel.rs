//! Data parallelism for the pure stages: rendering and writing thousands of configs, or
//! simulating millions of pairs, is CPU-bound and independent per host, so it is spread over the
//! machine's cores with scoped threads. (Talking to many hosts is I/O-bound: see
//! `engine::parallel`.)

/// `f(0..count)` computed on all cores, results in index order. Indices are dealt round-robin so
/// heavy items (relays with thousands of peers) do not pile up on one thread.
pub fn map<R: Send>(count: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1));
    if threads <= 1 {
        return (0..count).map(f).collect();
    }
    let f = &f;
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    (thread..count)
                        .step_by(threads)
                        .map(|index| (index, f(index)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("worker thread panicked"))
            .collect()
    });
    let mut slots: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for (index, result) in parts.into_iter().flatten() {
        slots[index] = Some(result);
    }
    slots
        .into_iter()
        .map(|slot| slot.expect("every index computed"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        assert_eq!(
            super::map(1000, |i| i * 2),
            (0..1000).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(super::map(0, |i| i).is_empty());
    }
}
