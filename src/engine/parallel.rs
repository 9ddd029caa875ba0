//! Talking to many hosts is I/O-bound: it is spread over tokio tasks ([`bounded`]). (CPU-bound work
//! of the pure stages uses threads: `core::parallel`.)

/// `work(item)` for every item as tokio tasks, at most `parallel` running at once; results in item
/// order, whatever order the tasks finish in. Used for everything wgdeploy does to many hosts over
/// SSH (survey, apply, refresh, undo, ping): one slow host never holds up the rest, and no more than
/// `--parallel` connections are busy at a time.
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, parallel: usize, work: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let work = std::sync::Arc::new(work);
    let mut tasks = tokio::task::JoinSet::new();
    let count = items.len();
    for (index, item) in items.into_iter().enumerate() {
        let permits = permits.clone();
        let work = work.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = permits.acquire_owned().await;
            (index, work(item).await)
        });
    }
    let mut slots: Vec<Option<R>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, value)) => slots[index] = Some(value),
            // wgdeploy's tasks return errors, never panic; if one did (a bug), say so loudly
            // rather than return results that no longer line up with the items.
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => unreachable!("tasks are never cancelled: {error}"),
            },
        }
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_keeps_order_and_the_limit() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, m) = (running.clone(), most.clone());
        let out = super::bounded((0..40).collect(), 3, move |i: u64| {
            let (running, most) = (r.clone(), m.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Later items finish first, so completion order is not item order.
                tokio::time::sleep(std::time::Duration::from_millis(40 - i)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..40).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(
            most.load(Ordering::SeqCst),
            3,
            "never more than 3 at once, and 3 used"
        );
    }
}
