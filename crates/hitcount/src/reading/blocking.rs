//! Synchronous reads, for code that cannot await: the functions of a
//! template engine (Tera's are synchronous and run inside async handlers).
//!
//! The reads run on a thread of the counter's own, with a runtime and a
//! small pool of their own, so waiting for one never needs the caller's
//! runtime: it cannot deadlock a single-threaded runtime (tests), nor wait
//! for the app's pool. On a multi-threaded runtime the caller waits inside
//! `block_in_place`, so the runtime moves its other requests to other
//! threads meanwhile. Totals come from the counter's read cache when it has
//! them (see `counts_refresh`), so a page that shows the same objects again
//! usually waits for nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::counting::HitCounter;
use crate::error::{Error, Result};
use crate::values::ObjectRef;

/// Connections of the reading thread's pool.
const READ_CONNECTIONS: u32 = 2;

/// How long a synchronous read waits for its answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

type Task = Box<dyn FnOnce(HitCounter) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A counter's reads, callable from synchronous code. Make one with
/// [`HitCounter::blocking`]; clones share the reading thread, which ends
/// when the last clone is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("hitcount-doc-blocking-{}.db", std::process::id()));
/// # let url = format!("sqlite://{}", dir.display());
/// use hitcount::{Db, HitCounter, ObjectRef, Visitor};
///
/// let counter = HitCounter::open(Db::connect(&url).await?, Default::default()).await?;
/// let post = ObjectRef::new("blog.post", 1)?;
/// counter.count_hit(&post, &Visitor::new("s")?).await?;
///
/// let blocking = counter.blocking()?;
/// // From synchronous code, even on this single-threaded runtime:
/// assert_eq!(blocking.hits(&post)?, 1);
/// assert_eq!(blocking.run(|counter| async move { counter.most_viewed(None, None, 5).await })?.len(), 1);
/// # drop(blocking); drop(counter); let _ = std::fs::remove_file(&dir);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BlockingCounter {
    shared: Arc<Shared>,
}

struct Shared {
    counter: HitCounter,
    tasks: mpsc::UnboundedSender<Task>,
}

impl HitCounter {
    /// Starts the thread that serves synchronous reads (see
    /// [`BlockingCounter`]). Its pool connects on first use.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let blocking = counter.blocking()?;
    /// # let _ = blocking;
    /// # Ok(()) }
    /// ```
    pub fn blocking(&self) -> Result<BlockingCounter> {
        let (tasks, mut receiver) = mpsc::unbounded_channel::<Task>();
        let counter = self.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("hitcount-reader")
            .build()
            .map_err(|e| Error::Database(sqlx::Error::Io(e)))?;
        std::thread::Builder::new()
            .name("hitcount-reader".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // Made here, so its connections live on this runtime.
                    let local = counter.through(counter.db().lazy_pool(READ_CONNECTIONS));
                    while let Some(task) = receiver.recv().await {
                        tokio::spawn(task(local.clone()));
                    }
                });
            })
            .map_err(|e| Error::Database(sqlx::Error::Io(e)))?;
        Ok(BlockingCounter {
            shared: Arc::new(Shared {
                counter: self.clone(),
                tasks,
            }),
        })
    }
}

impl BlockingCounter {
    /// The counter these reads are of.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert_eq!(counter.blocking()?.counter().settings(), counter.settings());
    /// # Ok(()) }
    /// ```
    pub fn counter(&self) -> &HitCounter {
        &self.shared.counter
    }

    /// Runs `read` on the reading thread, with the counter reading through
    /// that thread's pool, and waits for its answer (at most 10 seconds).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// let counts = counter.blocking()?.run(move |counter| async move { counter.counts(&post).await })?;
    /// assert_eq!(counts.hits, 0);
    /// # Ok(()) }
    /// ```
    pub fn run<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: FnOnce(HitCounter) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let task: Task = Box::new(move |counter| {
            Box::pin(async move {
                let _ = reply.send(read(counter).await);
            })
        });
        self.shared.tasks.send(task).map_err(|_| Error::Stopped)?;
        let answer = wait(move || answer.recv_timeout(ANSWER_TIMEOUT));
        match answer {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(Error::Database(sqlx::Error::PoolTimedOut))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Error::Stopped),
        }
    }

    /// The object's total hits: from the read cache when this instance
    /// read or counted them within `counts_refresh`, else read. An object
    /// never counted has 0 (and gets no row).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let unknown = hitcount::ObjectRef::new("blog.post", 404)?;
    /// assert_eq!(counter.blocking()?.hits(&unknown)?, 0);
    /// # Ok(()) }
    /// ```
    pub fn hits(&self, object: &ObjectRef) -> Result<i64> {
        if let Some(hits) = self.counter().cached_hits(object) {
            return Ok(hits);
        }
        let object = object.clone();
        self.run(move |counter| async move { Ok(counter.counts(&object).await?.hits) })
    }

    /// [`HitCounter::pk_and_hits`], from the read cache when it can.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("hitcount-doc-pk-{}.db", std::process::id()));
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect(&format!("sqlite://{}", dir.display())).await?, Default::default()).await?;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// let (pk, hits) = counter.blocking()?.pk_and_hits(&post)?;
    /// assert_eq!((counter.counts(&post).await?.pk, hits), (Some(pk), 0));
    /// # drop(counter); let _ = std::fs::remove_file(&dir);
    /// # Ok(()) }
    /// ```
    pub fn pk_and_hits(&self, object: &ObjectRef) -> Result<(i64, i64)> {
        if let Some(cached) = self.counter().cached_pk_and_hits(object) {
            return Ok(cached);
        }
        let object = object.clone();
        self.run(move |counter| async move { counter.pk_and_hits(&object).await })
    }
}

/// Runs `f`, which blocks, without stalling the caller's runtime when it
/// can: on a multi-threaded runtime through `block_in_place` (which panics
/// on a single-threaded one, where there is nobody to hand work to).
fn wait<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
