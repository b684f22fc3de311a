//! `hitcount`: the command line tool of rocket-hitcount. It works on the
//! database an app counts in (SQLite or PostgreSQL), named by
//! `--database-url`, `HITCOUNT_DATABASE_URL`, or the app's Rocket.toml.
//! Every failure is one line on standard error and a non-zero exit.

mod cleanup;
mod config;
mod days;
mod export;
mod import;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// rocket-hitcount's command line: cleanup, stats, export, import-django.
#[derive(Parser)]
#[command(name = "hitcount", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    target: config::Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deletes hit rows older than keep_hit_in_database, in batches, then
    /// hourly buckets older than keep_hourly_buckets; totals and daily
    /// buckets stay, so windows give the same counts.
    Cleanup(cleanup::Args),
    /// The most viewed objects, in total, within a window or over days,
    /// with their views and bot hits.
    Stats(stats::Args),
    /// Totals or daily buckets as CSV or JSON, streamed to stdout or a file.
    Export(export::Args),
    /// Imports a django-hitcount database: totals, hits (with buckets)
    /// and blacklists; running it again imports nothing twice.
    ImportDjango(import::Args),
}

/// A failure, said in one line.
type Failure = String;

impl Command {
    /// What the command does to the database.
    fn access(&self) -> config::Access {
        use config::Access;
        match self {
            Command::Cleanup(args) if args.reads_only() => Access::Read,
            Command::Cleanup(args) => Access::Write {
                create: args.create(),
            },
            Command::Stats(_) | Command::Export(_) => Access::Read,
            Command::ImportDjango(args) => Access::Write {
                create: args.create(),
            },
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = async {
        // The import's source first: a wrong one touches no database.
        let source = match &cli.command {
            Command::ImportDjango(args) => Some(import::source(args).await?),
            _ => None,
        };
        let counter = config::open(&cli.target, cli.command.access()).await?;
        match (&cli.command, source) {
            (Command::Cleanup(args), _) => cleanup::run(&counter, args).await,
            (Command::Stats(args), _) => stats::run(&counter, args).await,
            (Command::Export(args), _) => export::run(&counter, args).await,
            (Command::ImportDjango(_), Some(source)) => import::run(&counter, source).await,
            (Command::ImportDjango(_), None) => unreachable!("the source is opened first"),
        }
    }
    .await;
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("hitcount: {failure}");
            ExitCode::FAILURE
        }
    }
}
