//! `hitcount cleanup`: the core's batched cleanup with a progress bar on a
//! terminal (plain lines, at most one a second, otherwise), a dry run, and
//! Ctrl-C that stops between batches.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hitcount::{CleanupOptions, HitCounter, Window};
use indicatif::{HumanCount, ProgressBar, ProgressState, ProgressStyle};

use crate::Failure;

/// Options of `hitcount cleanup`.
#[derive(clap::Args)]
pub struct Args {
    /// Keep hits newer than this ("30 days", "days=30"); default: the
    /// app's keep_hit_in_database.
    #[arg(long, value_parser = keep, value_name = "DURATION")]
    keep: Option<Keep>,
    /// Rows per DELETE at the most, 1 or more (each its own short
    /// transaction); default: the app's cleanup_batch_size.
    #[arg(long, value_parser = batch_size, value_name = "ROWS")]
    batch_size: Option<u32>,
    /// Milliseconds each DELETE should take: batches are sized from the
    /// one before (at most --batch-size rows); 0: every batch is
    /// --batch-size rows. Default 5 on SQLite, whose one write lock the
    /// site's counting waits for, 0 on PostgreSQL.
    #[arg(long)]
    batch_ms: Option<u64>,
    /// Only count what would be removed (opening the database read-only).
    #[arg(long)]
    dry_run: bool,
    /// Create the SQLite file if it is missing, and hitcount's tables if
    /// the database has none (an empty one, or one with other tables).
    #[arg(long, conflicts_with = "dry_run")]
    create: bool,
    /// Stop after this many batches; run again to continue.
    #[arg(long)]
    max_batches: Option<u64>,
    /// Milliseconds to pause after each batch, leaving the database to the
    /// site's counting; default 10 on SQLite, 0 on PostgreSQL.
    #[arg(long)]
    pause_ms: Option<u64>,
    /// Print the report as JSON (removed, statements, cutoff, complete,
    /// dry_run, hourly_buckets_removed).
    #[arg(long)]
    json: bool,
}

/// `--keep` as given, and as read.
#[derive(Clone)]
struct Keep {
    text: String,
    window: Window,
}

fn keep(text: &str) -> Result<Keep, String> {
    Ok(Keep {
        text: text.to_owned(),
        window: Window::parse_duration(text).map_err(|e| e.to_string())?,
    })
}

fn batch_size(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err("must be at least 1 row".to_owned()),
        Ok(rows) => Ok(rows),
        Err(_) => Err(format!("expected a number of rows, got {text:?}")),
    }
}

impl Args {
    /// Whether the command only reads.
    pub fn reads_only(&self) -> bool {
        self.dry_run
    }

    /// Whether to create what is missing.
    pub fn create(&self) -> bool {
        self.create
    }

    /// The core's refusal of a value of these options, said of the option.
    fn explain(&self, error: hitcount::Error) -> Failure {
        if let (hitcount::Error::Setting { key, reason, .. }, Some(keep)) = (&error, &self.keep) {
            if *key == "keep_hit_in_database" {
                return format!("invalid --keep {:?}: {reason}", keep.text);
            }
        }
        error.to_string()
    }
}

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells use.
const INTERRUPTED: u8 = 130;

pub async fn run(counter: &HitCounter, args: &Args) -> Result<ExitCode, Failure> {
    let mut options = CleanupOptions::from(counter.settings());
    options.keep = args.keep.as_ref().map_or(options.keep, |keep| keep.window);
    options.batch_size = args.batch_size.unwrap_or(options.batch_size);
    options.dry_run = args.dry_run;
    options.max_batches = args.max_batches;
    options.batch_time = args.batch_ms.map(Duration::from_millis);
    options.pause = args.pause_ms.map(Duration::from_millis);

    let progress = Progress::start(counter, &options, args.json)
        .await
        .map_err(|e| args.explain(e))?;
    let cleanup = counter
        .admin()
        .cleanup_with(&options, |removed| progress.show(removed));
    // Each batch commits alone: stopping mid-batch rolls that batch back,
    // and the next run continues where this one stopped.
    let report = tokio::select! {
        report = cleanup => report.map_err(|e| args.explain(e))?,
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
        if report.dry_run {
            println!(
                "{} (created before {})",
                report.message(),
                report.cutoff.format(CUTOFF)
            );
        } else {
            println!("{}", report.message());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How the cutoff time is written.
const CUTOFF: &str = "%Y-%m-%d %H:%M:%S UTC";

/// A rate of rows, rounded: `10,183/s`.
fn rate(per_sec: f64) -> String {
    format!("{}/s", HumanCount(per_sec.max(0.0).round() as u64))
}

/// A bar on a terminal, plain lines otherwise, nothing for JSON output.
enum Progress {
    Bar(ProgressBar),
    Lines {
        total: u64,
        started: Instant,
        last: std::cell::Cell<Instant>,
    },
    Quiet,
}

impl Progress {
    async fn start(
        counter: &HitCounter,
        options: &CleanupOptions,
        json: bool,
    ) -> Result<Progress, hitcount::Error> {
        if json || options.dry_run {
            return Ok(Progress::Quiet);
        }
        // The bar's length: the dry run's count (one indexed COUNT).
        let mut counting = options.clone();
        counting.dry_run = true;
        let counted = counter.admin().cleanup_with(&counting, |_| {}).await?;
        let total = counted.removed;
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} hits removed ({rate}, {eta} left)",
            )
            .expect("a valid template")
            .with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&rate(state.per_sec()));
            });
            bar.set_style(style);
            Ok(Progress::Bar(bar))
        } else {
            eprintln!(
                "removing {} hits created before {}",
                HumanCount(total),
                counted.cutoff.format(CUTOFF)
            );
            Ok(Progress::Lines {
                total,
                started: Instant::now(),
                last: std::cell::Cell::new(Instant::now()),
            })
        }
    }

    fn show(&self, removed: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(removed),
            Progress::Lines { total, started, last } => {
                if last.get().elapsed() >= Duration::from_secs(1) {
                    let per_sec = removed as f64 / started.elapsed().as_secs_f64();
                    eprintln!(
                        "removed {} of {} hits ({})",
                        HumanCount(removed),
                        HumanCount(*total),
                        rate(per_sec)
                    );
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

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_are_whole_rows_a_second() {
        assert_eq!(rate(10_183.098_7), "10,183/s");
        assert_eq!(rate(999.5), "1,000/s");
        assert_eq!(rate(0.2), "0/s");
    }
}
