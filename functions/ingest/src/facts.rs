//! Account facts from AWS Organizations (names, tags, OU paths), cached with the runbook's
//! `account_facts.refresh` TTL and re-read in the background, never blocking an invocation
//! after cold start. A failed read keeps the facts read before (logged, `AccountFactsFailed`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use vigil_domain::ports::DirectorySource;
use vigil_domain::runbook::AccountDirectory;
use vigil_domain::Runbook;

/// The runbook last combined with the facts: (runbook version, facts address) and the result.
/// The version is a hash of the runbook's text, so equal versions are equal runbooks; the facts
/// stay alive in the result, so their address is not reused while cached.
type Combined = Option<((String, usize), Arc<Runbook>)>;

/// The longest a cold start waits for the first read (Lambda's init phase has 10 s).
pub const FIRST_READ_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct AccountFactsCache {
    source: Arc<dyn DirectorySource>,
    directory: RwLock<Arc<AccountDirectory>>,
    read_at: Mutex<Option<Instant>>,
    in_flight: AtomicBool,
    failed: AtomicU64,
    ttl: Duration,
    combined: Mutex<Combined>,
}

impl AccountFactsCache {
    /// Reads the facts once, waiting at most [`FIRST_READ_WAIT`]; a slower read goes on in
    /// the background.
    pub async fn load(source: Arc<dyn DirectorySource>, ttl: Duration) -> Arc<Self> {
        let cache = Arc::new(Self {
            source,
            directory: RwLock::new(Arc::new(AccountDirectory::new())),
            read_at: Mutex::new(None),
            in_flight: AtomicBool::new(true),
            failed: AtomicU64::new(0),
            ttl,
            combined: Mutex::new(None),
        });
        let me = cache.clone();
        let first = tokio::spawn(async move {
            me.read_now().await;
            me.in_flight.store(false, Ordering::Release);
        });
        if tokio::time::timeout(FIRST_READ_WAIT, first).await.is_err() {
            tracing::warn!("account facts from Organizations not read within 5 s; going on without them until they are");
        }
        cache
    }

    pub fn directory(&self) -> Arc<AccountDirectory> {
        match self.directory.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Starts a background re-read when the facts are older than the TTL; never waits.
    pub fn poll(self: &Arc<Self>) {
        let due = match self.read_at.lock() {
            Ok(t) => t.is_none_or(|t| t.elapsed() >= self.ttl),
            Err(_) => true,
        };
        if !due || self.in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            me.read_now().await;
            me.in_flight.store(false, Ordering::Release);
        });
    }

    /// Reads now (tests).
    pub async fn read_now(&self) -> bool {
        if let Ok(mut t) = self.read_at.lock() {
            *t = Some(Instant::now());
        }
        match self.source.read().await {
            Ok(d) => {
                tracing::info!(accounts = d.len(), "account facts read from Organizations");
                match self.directory.write() {
                    Ok(mut g) => *g = Arc::new(d),
                    Err(p) => *p.into_inner() = Arc::new(d),
                }
                true
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, retryable = e.retryable,
                    "cannot read account facts from Organizations; the facts read before stay in use");
                false
            }
        }
    }

    /// `rb` with the current facts. The combination is cached until either changes, so an
    /// invocation does not copy the runbook.
    pub fn with_facts(&self, rb: &Runbook) -> Arc<Runbook> {
        let directory = self.directory();
        let key = (rb.version.clone(), Arc::as_ptr(&directory) as usize);
        let mut cached = match self.combined.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some((k, combined)) = cached.as_ref() {
            if *k == key {
                return combined.clone();
            }
        }
        let mut with = rb.clone();
        with.directory = directory;
        let with = Arc::new(with);
        *cached = Some((key, with.clone()));
        with
    }

    /// Failed reads since the last call.
    pub fn take_failed(&self) -> u64 {
        self.failed.swap(0, Ordering::Relaxed)
    }
}
