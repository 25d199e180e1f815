//! `council`: the command line for members, operators and auditors.
//!
//! Exit status: 0 when the command did what was asked (for `verify`: the export is
//! valid), 1 when `verify` found something invalid, 2 for bad usage or a file that
//! cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod keyfile;
mod report;
mod verify;

#[derive(Debug, Parser)]
#[command(
    name = "council",
    version,
    about = "councilnet: councils, votes, mandates, recalls, federations."
)]
struct Cli {
    /// Print machine-readable JSON instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an export file, fully offline: every signature, hash link, roster, tally,
    /// mandate and recall. Exit 0 if valid, 1 if anything is invalid, 2 if unreadable.
    Verify {
        /// The export file (`-` for standard input).
        file: PathBuf,
    },
    /// Write a realistic sample export: a council, its motions and votes, roster changes,
    /// a federation of three councils, mandates, recalls and a federation motion.
    Sample {
        /// Where to write the export.
        #[arg(long)]
        out: PathBuf,
        /// Members of the main council.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(3..=100_000))]
        members: u32,
        /// Ordinary motions.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
        motions: u32,
        /// Ballots on each ordinary motion (beyond the roster size they are changed votes).
        #[arg(long, default_value_t = 45, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
        votes_per_motion: u32,
    },
    /// Member keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a new member key in FILE (mode 0600) and print its did:key.
    New {
        /// The key file to create. It must not exist yet.
        file: PathBuf,
    },
    /// Print the did:key of the key in FILE.
    Show { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Verify { file } => verify::run(&file, cli.json),
        Command::Sample {
            out,
            members,
            motions,
            votes_per_motion,
        } => {
            let p = council_core::sample::SampleParams {
                members,
                motions,
                votes_per_motion,
            };
            verify::sample(&out, &p, cli.json)
        }
        Command::Key {
            command: KeyCommand::New { file },
        } => keyfile::new(&file, cli.json),
        Command::Key {
            command: KeyCommand::Show { file },
        } => keyfile::show(&file, cli.json),
    }
}
