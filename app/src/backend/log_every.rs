//! A log line at most once per period for an event that can repeat thousands of times a second
//! (refused webhooks during an outage or a flood), carrying how many happened since the last.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LogEvery {
    period: Duration,
    /// When the last line was written, and the events since.
    state: Mutex<Option<(Instant, u64)>>,
}

impl LogEvery {
    pub const fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new(None),
        }
    }

    /// Counts one event; `Some(n)` when a line is due now, for the `n` events it stands for.
    pub fn tick(&self) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.as_mut() {
            Some((last, count)) if now.duration_since(*last) < self.period => {
                *count += 1;
                None
            }
            Some((last, count)) => {
                let events = *count + 1;
                *last = now;
                *count = 0;
                Some(events)
            }
            None => {
                *state = Some((now, 0));
                Some(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_it_stands_for() {
        let log = LogEvery::new(Duration::from_millis(50));
        assert_eq!(log.tick(), Some(1), "the first event is said at once");
        assert_eq!((0..99).filter_map(|_| log.tick()).count(), 0);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            log.tick(),
            Some(100),
            "the next line counts the 99 kept back and itself"
        );
    }
}
