//! The deployed runbook, kept current from its object store without blocking the hot path.
//!
//! At cold start the function reads the object once (awaited). After that, an invocation that
//! finds the last check older than the poll interval (one minute) starts a refresh in the
//! background and goes on with the runbook it has: `HeadObject` for the entity tag, and only
//! when it changed `GetObject`, validation and the swap. A version that fails validation is
//! refused: the last good runbook stays in force, the refusal is logged with the errors and
//! counted (`RunbookRejected`, alarmed), and the same version is not downloaded again. A read
//! that fails is counted (`RunbookFetchFailed`) and tried again at the next poll.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use vigil_domain::ports::RunbookSource;
use vigil_domain::Runbook;

/// How often the object store is asked for a new version, at most.
pub const POLL_INTERVAL: Duration = Duration::from_secs(60);

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The entity tag is the one in force.
    Unchanged,
    /// A new version is in force.
    Replaced { version: String },
    /// The current object failed validation; the last good runbook stays in force.
    Rejected { message: String },
    /// The object could not be read.
    Failed { message: String },
    /// There is no object and never was one: the runbook from the environment (or the
    /// defaults) is the one in force, as deployed.
    Absent,
}

#[derive(Debug)]
struct Known {
    /// Entity tag of the runbook in force (none: the fallback from the environment).
    etag: Option<String>,
    /// Entity tag of a version refused, so it is not downloaded again.
    rejected: Option<String>,
    last_attempt: Option<Instant>,
}

/// The runbook in force and its source.
#[derive(Debug)]
pub struct LiveRunbook {
    source: Arc<dyn RunbookSource>,
    current: RwLock<Arc<Runbook>>,
    known: Mutex<Known>,
    in_flight: AtomicBool,
    rejected: AtomicU64,
    failed: AtomicU64,
    interval: Duration,
}

impl LiveRunbook {
    /// Reads the source once; if it cannot be read or is invalid, `fallback` (the runbook from
    /// the environment, or the defaults) is in force until a good version is read.
    pub async fn load(
        source: Arc<dyn RunbookSource>,
        fallback: Runbook,
        interval: Duration,
    ) -> Arc<Self> {
        let live = Arc::new(Self {
            source,
            current: RwLock::new(Arc::new(fallback)),
            known: Mutex::new(Known {
                etag: None,
                rejected: None,
                last_attempt: None,
            }),
            in_flight: AtomicBool::new(false),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            interval,
        });
        live.refresh().await;
        live
    }

    /// The runbook in force.
    pub fn current(&self) -> Arc<Runbook> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Starts a refresh in the background when the last one is older than the interval and
    /// none is running; never waits.
    pub fn poll(self: &Arc<Self>) {
        let due = {
            let k = match self.known.lock() {
                Ok(k) => k,
                Err(p) => p.into_inner(),
            };
            k.last_attempt.is_none_or(|t| t.elapsed() >= self.interval)
        };
        if !due || self.in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            me.refresh_now().await;
            me.in_flight.store(false, Ordering::Release);
        });
    }

    /// Refreshes now (tests, cold start).
    pub async fn refresh(&self) -> Refresh {
        self.refresh_now().await
    }

    async fn refresh_now(&self) -> Refresh {
        let location = self.source.location();
        let (known, rejected) = {
            let mut k = match self.known.lock() {
                Ok(k) => k,
                Err(p) => p.into_inner(),
            };
            k.last_attempt = Some(Instant::now());
            (k.etag.clone(), k.rejected.clone())
        };
        let etag = match self.source.etag().await {
            Ok(e) => e,
            Err(e) if e.not_found && known.is_none() => {
                tracing::debug!(runbook = %location,
                    "no runbook object uploaded; the runbook from the environment is in force");
                return Refresh::Absent;
            }
            Err(e) => return self.failed(&location, e.to_string()),
        };
        if known.as_deref() == Some(etag.as_str()) {
            return Refresh::Unchanged;
        }
        if rejected.as_deref() == Some(etag.as_str()) {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::error!(runbook = %location, etag = %etag,
                "the runbook version in the bucket is still the one refused; the last good runbook stays in force");
            return Refresh::Rejected {
                message: "the version refused earlier".into(),
            };
        }
        let object = match self.source.get().await {
            Ok(o) => o,
            Err(e) => return self.failed(&location, e.to_string()),
        };
        match Runbook::from_yaml(&object.text, &location) {
            Ok(rb) => {
                let version = rb.version.clone();
                match self.current.write() {
                    Ok(mut g) => *g = Arc::new(rb),
                    Err(p) => *p.into_inner() = Arc::new(rb),
                }
                if let Ok(mut k) = self.known.lock() {
                    k.etag = Some(object.etag.clone());
                    k.rejected = None;
                }
                tracing::info!(runbook = %location, etag = %object.etag, version = %version,
                    "runbook version in force");
                Refresh::Replaced { version }
            }
            Err(e) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut k) = self.known.lock() {
                    k.rejected = Some(object.etag.clone());
                }
                let message = e.to_string();
                tracing::error!(runbook = %location, etag = %object.etag, error = %message,
                    "runbook version refused: it does not validate; the last good runbook stays in force");
                Refresh::Rejected { message }
            }
        }
    }

    fn failed(&self, location: &str, message: String) -> Refresh {
        self.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(runbook = %location, error = %message,
            "cannot read the runbook object; the runbook in force stays, the next poll tries again");
        Refresh::Failed { message }
    }

    /// Refusals and failed reads since the last call (for the invocation's metrics).
    pub fn take_counters(&self) -> (u64, u64) {
        (
            self.rejected.swap(0, Ordering::Relaxed),
            self.failed.swap(0, Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::BoxFuture;
    use vigil_domain::ports::{RunbookObject, RunbookSourceError};

    #[derive(Debug, Default)]
    struct Fake {
        object: Mutex<Option<RunbookObject>>,
        gets: AtomicU64,
    }

    impl Fake {
        fn put(&self, etag: &str, text: &str) {
            *self.object.lock().unwrap() = Some(RunbookObject {
                etag: etag.into(),
                text: text.into(),
            });
        }
    }

    impl RunbookSource for Fake {
        fn location(&self) -> String {
            "fake://runbook".into()
        }
        fn etag(&self) -> BoxFuture<'_, Result<String, RunbookSourceError>> {
            Box::pin(async move {
                self.object
                    .lock()
                    .unwrap()
                    .as_ref()
                    .map(|o| o.etag.clone())
                    .ok_or(RunbookSourceError {
                        location: self.location(),
                        message: "no such key".into(),
                        retryable: false,
                        not_found: true,
                        source: None,
                    })
            })
        }
        fn get(&self) -> BoxFuture<'_, Result<RunbookObject, RunbookSourceError>> {
            self.gets.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                self.object
                    .lock()
                    .unwrap()
                    .clone()
                    .ok_or(RunbookSourceError {
                        location: self.location(),
                        message: "no such key".into(),
                        retryable: false,
                        not_found: true,
                        source: None,
                    })
            })
        }
    }

    #[tokio::test]
    async fn a_bad_version_is_refused_once_and_the_last_good_one_stays() {
        let fake = Arc::new(Fake::default());
        // Nothing there at cold start: the fallback is in force, and that is not a failure.
        let fallback = Runbook::from_yaml("defaults: {environment: dev}", "env").unwrap();
        let live = LiveRunbook::load(fake.clone(), fallback, Duration::ZERO).await;
        assert_eq!(live.current().defaults.environment.as_str(), "dev");
        assert_eq!(live.take_counters(), (0, 0));
        fake.put("e1", "defaults: {environment: test}");
        assert!(matches!(live.refresh().await, Refresh::Replaced { .. }));
        assert_eq!(live.current().defaults.environment.as_str(), "test");
        assert_eq!(live.refresh().await, Refresh::Unchanged);
        fake.put("e2", "defaults: {environmnt: production}");
        assert!(
            matches!(live.refresh().await, Refresh::Rejected { message } if message.contains("environmnt"))
        );
        assert_eq!(live.current().defaults.environment.as_str(), "test");
        let gets = fake.gets.load(Ordering::Relaxed);
        assert!(matches!(live.refresh().await, Refresh::Rejected { .. }));
        assert_eq!(
            fake.gets.load(Ordering::Relaxed),
            gets,
            "a refused version is not downloaded again"
        );
        assert_eq!(live.take_counters(), (2, 0));
        fake.put("e3", "defaults: {environment: production}");
        assert!(matches!(live.refresh().await, Refresh::Replaced { .. }));
        assert_eq!(live.current().defaults.environment.as_str(), "production");
    }

    #[tokio::test]
    async fn polls_are_rate_limited_and_never_wait() {
        let fake = Arc::new(Fake::default());
        fake.put("e1", "defaults: {environment: test}");
        let live =
            LiveRunbook::load(fake.clone(), Runbook::default(), Duration::from_secs(3600)).await;
        let gets = fake.gets.load(Ordering::Relaxed);
        fake.put("e2", "defaults: {environment: dev}");
        for _ in 0..100 {
            live.poll();
        }
        tokio::task::yield_now().await;
        assert_eq!(
            fake.gets.load(Ordering::Relaxed),
            gets,
            "not due for an hour"
        );
        assert_eq!(live.current().defaults.environment.as_str(), "test");
    }
}
