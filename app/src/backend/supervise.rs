//! Background tasks that must not die silently: the queue worker and the intake writer. Each
//! runs under [`supervise`], which restarts it after a panic (with a growing pause, so a task
//! that panics at once does not spin), and each beats a [`Heartbeat`] that `/healthz` reads: a
//! task that stops beating, alive or not, turns the health check `degraded`.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A heartbeat: when its task last said it was alive. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    /// "Alive now."
    pub fn beat(&self) {
        self.beat_at(SystemTime::now());
    }

    pub fn beat_at(&self, at: SystemTime) {
        let millis = at
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_millis().max(1) as u64);
        self.0.store(millis, Ordering::Relaxed);
    }

    /// How long since the last beat; `None` if its task never ran in this process (the CLI, or
    /// a worker this process does not run).
    pub fn silent_for(&self) -> Option<Duration> {
        let last = self.0.load(Ordering::Relaxed);
        (last > 0).then(|| {
            let last = UNIX_EPOCH + Duration::from_millis(last);
            SystemTime::now().duration_since(last).unwrap_or_default()
        })
    }
}

/// The first pause before a restart; it doubles with each panic, up to [`LONGEST_PAUSE`], and
/// starts over once the task has run for that long.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);

/// Runs the task `start` makes until it returns, starting a new one each time one panics.
pub async fn supervise<F, Fut>(name: &'static str, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut pause = FIRST_PAUSE;
    loop {
        let started = Instant::now();
        match caught(start()).await {
            Ok(()) => return,
            Err(panic) => {
                if started.elapsed() >= LONGEST_PAUSE {
                    pause = FIRST_PAUSE;
                }
                tracing::error!(
                    task = name,
                    panic,
                    ?pause,
                    "a background task panicked; it is restarted"
                );
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Runs `future` as its own task: its panic becomes an error with the panic's message instead
/// of unwinding through the caller.
pub async fn caught<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    tokio::spawn(future).await.map_err(|err| {
        if err.is_panic() {
            panic_message(err.into_panic())
        } else {
            "the task was cancelled (the runtime is shutting down)".to_string()
        }
    })
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn a_panic_is_caught_with_its_message() {
        let result = caught(async { panic!("job {} exploded", 7) }).await;
        assert_eq!(result, Err::<(), _>("job 7 exploded".to_string()));
        assert_eq!(caught(async { 5 }).await, Ok(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_started_again_after_a_growing_pause() {
        let runs = Arc::new(AtomicUsize::new(0));
        let started = tokio::time::Instant::now();
        supervise("test", || {
            let runs = runs.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) < 3 {
                    panic!("not yet");
                }
            }
        })
        .await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            4,
            "three panics, then a normal end"
        );
        // Pauses of 1, 2 and 4 seconds.
        assert_eq!(started.elapsed().as_secs(), 7);
    }

    #[test]
    fn a_heartbeat_says_how_long_it_has_been_silent() {
        let beat = Heartbeat::default();
        assert_eq!(beat.silent_for(), None, "never beaten");
        beat.beat_at(SystemTime::now() - Duration::from_secs(45));
        let silent = beat.silent_for().unwrap();
        assert!((45..47).contains(&silent.as_secs()), "{silent:?}");
        beat.beat();
        assert!(beat.silent_for().unwrap() < Duration::from_secs(1));
    }
}
