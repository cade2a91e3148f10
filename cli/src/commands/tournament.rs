//! `edgenas tournament`: the tournament-style dynamic search space
//! (Algorithm 2), then the main job's retraining, export and measurement
//! of its genotype; and `edgenas game`, one of its games.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pipeline::RunConfig;
use pipeline::tournament::TournamentConfig;

use super::args::{BackendArgs, DataArgs, RunRetrainOpts, SearchOpts};
use ui::Bars;

#[derive(Args, Debug)]
pub struct TournamentArgs {
    /// T: tiers. Tier 1 runs 2^(T−1) games on ops drawn at random per node
    /// from the dynamic space (the union of op spaces 1–4, 5×5 pools,
    /// MBConv 5×5 and expansions 1/4/6); each tier pairs the previous
    /// one's games and searches on the union of their kept ops; the last
    /// tier's single game gives the genotype.
    #[arg(long, default_value_t = 3)]
    pub tiers: usize,
    /// O_max: ops drawn per node (and cell type) for a first-tier game. A
    /// game keeps the top half of each node's ops by α (rounded up; ties
    /// to the op earlier in the canonical order).
    #[arg(long, default_value_t = 4)]
    pub ops_per_game: usize,
    /// Games of a tier run at the same time (each a process; every game
    /// uses all cores, so more than one pays only on a larger machine).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub data: DataArgs,
    /// The games' search settings (--space is replaced by the draws; --seed
    /// seeds the draws and, offset per game, each game's search).
    #[command(flatten)]
    pub search: SearchOpts,
    #[command(flatten)]
    pub retrain: RunRetrainOpts,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Target device of the final run's latency table and measurement:
    /// `cpu` (tract), `jetson` or a TOML device file.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Folder of measured latency tables (see `edgenas run`).
    #[arg(long, default_value = "runs/lut-cache")]
    pub lut_cache: PathBuf,
    /// Output folder: OUT/tournament.json (settings, draws, each game's
    /// ranked and kept ops, pairing, the genotype), OUT/tournament.md
    /// (the op sets per tier), OUT/tier<t>/game<r>/ (each game's search,
    /// with its job file and log beside it), OUT/genotype.json and
    /// OUT/final/ (the final run, as `edgenas run` writes it).
    #[arg(long, default_value = "runs/tournament")]
    pub out: PathBuf,
    /// Start over, replacing an existing output folder.
    #[arg(long)]
    pub force: bool,
    /// Continue an interrupted tournament with the same options: finished
    /// games are kept (a game folder with its search.json), unfinished ones
    /// continue from their checkpoints, then the next tiers and the final
    /// run follow.
    #[arg(long)]
    pub resume: bool,
    /// Print the summary (the tournament record and the final run) as JSON
    /// on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: TournamentArgs) -> Result<()> {
    let config = TournamentConfig {
        exe: std::env::current_exe().context("locating the edgenas binary")?,
        run: RunConfig {
            data: args.data.data,
            search: args.search.config(),
            retrain: args.retrain.settings(args.search.seed),
            backend: args.backend.backend,
            device: args.device,
            // No search in the final run: δ plays no part; the table still
            // predicts the genotype's latency.
            penalty: artifacts::PenaltySettings::new(0.0, Default::default(), false),
            lut_cache: args.lut_cache,
            out: args.out,
            force: args.force,
            random_genotype: false,
            genotype: None,
            resume: args.resume,
            remote: None,
        },
        tiers: args.tiers,
        ops_per_game: args.ops_per_game,
        jobs: args.jobs,
    };
    let s = pipeline::tournament::run_tournament(&config, &Bars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    eprintln!();
    eprintln!(
        "tournament: {} tiers, {} ops per node in tier 1 (seed {}); bold ops were kept",
        s.record.tiers, s.record.ops_per_game, s.record.seed
    );
    eprintln!("{}", s.table);
    super::run::print_summary(&s.run, None);
    Ok(())
}

#[derive(Args, Debug)]
pub struct GameArgs {
    /// The game's job file (OUT/tier<t>/game<r>.job.json, written by
    /// `edgenas tournament`).
    pub job: PathBuf,
}

pub fn game(args: GameArgs) -> Result<()> {
    let result = pipeline::tournament::game(&args.job, &Bars)?;
    eprintln!(
        "game {}: S val {:.2}% in {:.0} s",
        args.job.display(),
        result.search_val_accuracy,
        result.seconds
    );
    Ok(())
}
