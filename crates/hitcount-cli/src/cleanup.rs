//! `hitcount cleanup`: the core's batched cleanup with a progress bar on a
//! terminal (plain lines, at most one a second, otherwise), a dry run, and
//! Ctrl-C that stops between batches.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hitcount::{CleanupOptions, HitCounter, Window};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;

/// Options of `hitcount cleanup`.
#[derive(clap::Args)]
pub struct Args {
    /// Keep hits newer than this ("30 days", "days=30"); default: the
    /// app's keep_hit_in_database.
    #[arg(long, value_parser = Window::parse_duration)]
    keep: Option<Window>,
    /// Rows per DELETE at the most (each its own short transaction);
    /// default: the app's cleanup_batch_size.
    #[arg(long)]
    batch_size: Option<u32>,
    /// Milliseconds each DELETE should take: batches are sized from the
    /// one before (at most --batch-size rows); 0: every batch is
    /// --batch-size rows. Default 5 on SQLite, whose one write lock the
    /// site's counting waits for, 0 on PostgreSQL.
    #[arg(long)]
    batch_ms: Option<u64>,
    /// Only count what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Stop after this many batches; run again to continue.
    #[arg(long)]
    max_batches: Option<u64>,
    /// Milliseconds to pause after each batch, leaving the database to the
    /// site's counting; default 10 on SQLite, 0 on PostgreSQL.
    #[arg(long)]
    pause_ms: Option<u64>,
    /// Print the report as JSON (removed, statements, cutoff, complete).
    #[arg(long)]
    json: bool,
}

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells use.
const INTERRUPTED: u8 = 130;

pub async fn run(counter: &HitCounter, args: &Args) -> Result<ExitCode, Failure> {
    let mut options = CleanupOptions::from(counter.settings());
    options.keep = args.keep.unwrap_or(options.keep);
    options.batch_size = args.batch_size.unwrap_or(options.batch_size);
    options.dry_run = args.dry_run;
    options.max_batches = args.max_batches;
    options.batch_time = args.batch_ms.map(Duration::from_millis);
    options.pause = args.pause_ms.map(Duration::from_millis);

    let progress = Progress::start(counter, &options, args.json).await?;
    let cleanup = counter.cleanup_with(&options, |removed| progress.show(removed));
    // Each batch commits alone: stopping mid-batch rolls that batch back,
    // and the next run continues where this one stopped.
    let report = tokio::select! {
        report = cleanup => report.map_err(|e| e.to_string())?,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            eprintln!("hitcount: interrupted; the removed rows stay removed, run again to continue");
            return Ok(ExitCode::from(INTERRUPTED));
        }
    };
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_string(&report).expect("a report serialises"));
    } else {
        if !report.complete {
            println!(
                "Stopped after {} batches; run again to continue.",
                report.statements
            );
        }
        println!("{}", report.message());
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar on a terminal, plain lines otherwise, nothing for JSON output.
enum Progress {
    Bar(ProgressBar),
    Lines {
        total: u64,
        last: std::cell::Cell<Instant>,
    },
    Quiet,
}

impl Progress {
    async fn start(counter: &HitCounter, options: &CleanupOptions, json: bool) -> Result<Progress, Failure> {
        if json || options.dry_run {
            return Ok(Progress::Quiet);
        }
        // The bar's length: the dry run's count (one indexed COUNT).
        let mut counting = options.clone();
        counting.dry_run = true;
        let total = counter
            .cleanup_with(&counting, |_| {})
            .await
            .map_err(|e| e.to_string())?
            .removed;
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{bar:40} {pos}/{len} hits removed ({per_sec}, {eta} left)")
                    .expect("a valid template");
            bar.set_style(style);
            Ok(Progress::Bar(bar))
        } else {
            eprintln!("removing {total} hits older than {}", options.keep);
            Ok(Progress::Lines {
                total,
                last: std::cell::Cell::new(Instant::now()),
            })
        }
    }

    fn show(&self, removed: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(removed),
            Progress::Lines { total, last } => {
                if last.get().elapsed() >= Duration::from_secs(1) {
                    eprintln!("removed {removed} of {total} hits");
                    last.set(Instant::now());
                }
            }
            Progress::Quiet => {}
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
