//! `edgenas tournament`: the tournament-style dynamic search space
//! (docs/algorithms.md §5, Algorithm 2).
//!
//! Tier 1 runs 2^(T−1) independent ICDARTS games, each on `O_max` ops drawn
//! at random per node and cell type from the dynamic space; each game keeps
//! the top half of every node's ops by α; games are paired (1+2, 3+4, …)
//! and the next tier searches from scratch on the unions, until one game is
//! left, whose genotype is retrained, exported and measured like the main
//! job's (`OUT/final`).
//!
//! Every game is an `edgenas game` child process (`--jobs` at a time) in
//! its own folder, `OUT/tier<t>/game<r>/`, from a job file beside it, with
//! its log beside it too. A game folder with its `search.json` is finished;
//! `--resume` keeps those and continues the others from their checkpoints.
//! `OUT/tournament.json` records the settings, the draws, each game's
//! scores and kept ops, and the pairing, written after every game, so the
//! whole tournament can be followed and reproduced from its seed.

use std::path::{Path, PathBuf};
use std::process::Child;

use artifacts::{
    ALPHAS_FILE, AlphasFile, Backend, GENOTYPE_FILE, GenotypeFile, RUN_FILE, RunSummary,
    SEARCH_FILE, SearchConfig, SearchSummary, read_json, write_json,
};
use models::Genotype;
use models::space::{NodeOpSets, OpKind, OpSpace};
use models::tournament::{self, OpScore, SplitMix64};
use serde::{Deserialize, Serialize};

use crate::PipelineError;
use crate::run::{RunConfig, SearchJob, SearchLatency, SearchResult};
use crate::sweep::{reap, spawn_tracked};
use artifacts::progress::Progress;

/// `edgenas tournament`.
#[derive(Debug, Clone)]
pub struct TournamentConfig {
    /// The `edgenas` binary each game is started with.
    pub exe: PathBuf,
    /// The data, search settings of every game (their op sets replaced by
    /// the draws), the retraining and the device of the final run; `out`
    /// is the tournament's folder.
    pub run: RunConfig,
    /// T: tiers (tier 1 has 2^(T−1) games).
    pub tiers: usize,
    /// O_max: ops drawn per node and cell type for a first-tier game.
    pub ops_per_game: usize,
    /// Games run at the same time.
    pub jobs: usize,
}

/// What an `edgenas game` process runs: one search of a tournament.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GameJob {
    pub data: String,
    pub config: SearchConfig,
    pub backend: Backend,
    pub out: PathBuf,
}

/// Runs the game of `job_path` (continuing it from its checkpoint when
/// there is one).
pub fn game(job_path: &Path, progress: &dyn Progress) -> Result<SearchResult, PipelineError> {
    let job: GameJob = read_json(job_path, "a tournament game's job file")?;
    crate::run::search(
        &SearchJob {
            data: job.data,
            config: job.config,
            latency: SearchLatency {
                lut: None,
                penalty: artifacts::PenaltySettings::new(0.0, Default::default(), false),
                deploy: artifacts::NetSize {
                    channels: 0,
                    layers: 0,
                },
            },
            backend: job.backend,
            out: job.out,
            force: true,
            resume: true,
        },
        progress,
    )
}

/// One game of the tournament, as `tournament.json` records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GameRecord {
    /// 1 for the first tier.
    pub tier: usize,
    /// 0-based within its tier.
    pub index: usize,
    /// The game's search seed.
    pub seed: u64,
    /// Relative to the tournament's folder.
    pub folder: PathBuf,
    /// The previous tier's games whose kept ops it unites (tiers ≥ 2).
    pub parents: Option<[usize; 2]>,
    /// The node op sets it searched on.
    pub sets: NodeOpSets,
    /// After the game: each node's ops ranked by α (strongest first).
    pub scores: Option<CellScores>,
    /// After the game: the top half of each node's ops.
    pub kept: Option<NodeOpSets>,
    pub search_val_accuracy: Option<f64>,
    pub seconds: Option<f64>,
}

impl GameRecord {
    /// A game not yet played, of the tournament seeded with `seed`.
    fn new(
        seed: u64,
        tier: usize,
        index: usize,
        parents: Option<[usize; 2]>,
        sets: NodeOpSets,
    ) -> Self {
        Self {
            tier,
            index,
            seed: game_seed(seed, tier, index),
            folder: game_folder(tier, index),
            parents,
            sets,
            scores: None,
            kept: None,
            search_val_accuracy: None,
            seconds: None,
        }
    }
}

/// Ranked ops per node, per cell type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellScores {
    pub normal: Vec<Vec<OpScore>>,
    pub reduce: Vec<Vec<OpScore>>,
}

/// `OUT/tournament.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TournamentRecord {
    pub schema_version: u32,
    pub tool: String,
    pub data: String,
    pub tiers: usize,
    pub ops_per_game: usize,
    pub seed: u64,
    /// The dynamic space the first tier draws from.
    pub pool: Vec<OpKind>,
    /// The games' common search settings (without their op sets).
    pub search: SearchConfig,
    /// Games per tier, tier 1 first; a tier's games are added when the
    /// previous tier has finished.
    pub games: Vec<Vec<GameRecord>>,
    /// The last game's genotype, when it has finished.
    pub genotype: Option<Genotype>,
}

pub const TOURNAMENT_FILE: &str = "tournament.json";

/// What a tournament returns: its record and the final run's summary.
#[derive(Debug, Clone, Serialize)]
pub struct TournamentSummary {
    pub record: TournamentRecord,
    pub table: String,
    pub run: RunSummary,
}

/// The search seed of game `index` of `tier`: distinct per game, derived
/// from the tournament's seed.
fn game_seed(seed: u64, tier: usize, index: usize) -> u64 {
    seed.wrapping_mul(1000)
        .wrapping_add(100 * tier as u64 + index as u64)
}

fn game_folder(tier: usize, index: usize) -> PathBuf {
    PathBuf::from(format!("tier{tier}")).join(format!("game{index}"))
}

/// The first tier's games, drawn from the pool with the tournament's seed.
fn first_tier(config: &TournamentConfig, pool: &[OpKind]) -> Vec<GameRecord> {
    let mut rng = SplitMix64::new(config.run.search.seed);
    (0..tournament::games_in_tier(config.tiers, 1))
        .map(|index| {
            let sets =
                tournament::draw_game(pool, config.ops_per_game, config.run.search.nodes, &mut rng);
            GameRecord::new(config.run.search.seed, 1, index, None, sets)
        })
        .collect()
}

/// Tier `tier`'s games from the previous tier's kept ops, paired in order.
fn next_tier(previous: &[GameRecord], tier: usize, seed: u64) -> Vec<GameRecord> {
    previous
        .chunks(2)
        .enumerate()
        .map(|(index, pair)| {
            let kept = |g: &GameRecord| g.kept.clone().expect("the previous tier has finished");
            let sets = tournament::unite(&kept(&pair[0]), &kept(&pair[1]));
            let parents = Some([pair[0].index, pair[1].index]);
            GameRecord::new(seed, tier, index, parents, sets)
        })
        .collect()
}

fn validate(config: &TournamentConfig) -> Result<(), PipelineError> {
    let usage = |m: String| Err(PipelineError::Usage(m));
    if !(1..=6).contains(&config.tiers) {
        return usage(format!(
            "--tiers {}: 1 to 6 tiers (tier 1 has 2^(T−1) games)",
            config.tiers
        ));
    }
    let pool = OpKind::dynamic().len();
    if config.ops_per_game == 0 || config.ops_per_game > pool {
        return usage(format!(
            "--ops-per-game {}: 1 to {pool} (the dynamic space's ops)",
            config.ops_per_game
        ));
    }
    if config.jobs == 0 {
        return usage("--jobs must be at least 1".into());
    }
    if config.run.search.zero != models::space::ZeroConfig::V1 {
        return usage(format!(
            "--zero {}: the dynamic space has no `zero` op (the games offer only their drawn ops)",
            config.run.search.zero
        ));
    }
    if config.run.search.algo == artifacts::Algo::Random {
        return usage("a tournament ranks ops by α: not with --algo random".into());
    }
    config.run.search.validate()?;
    Ok(())
}

/// What a first tier's games were drawn as (seed and op sets).
fn draws(games: &[GameRecord]) -> Vec<(u64, &NodeOpSets)> {
    games.iter().map(|g| (g.seed, &g.sets)).collect()
}

/// Opens the tournament's folder: a new record, or with `resume` the one
/// there (refused when its settings differ).
fn open(config: &TournamentConfig, pool: &[OpKind]) -> Result<TournamentRecord, PipelineError> {
    let out = &config.run.out;
    let path = out.join(TOURNAMENT_FILE);
    let fresh = || TournamentRecord {
        schema_version: 1,
        tool: artifacts::tool_version(),
        data: config.run.data.clone(),
        tiers: config.tiers,
        ops_per_game: config.ops_per_game,
        seed: config.run.search.seed,
        pool: pool.to_vec(),
        search: config.run.search.clone(),
        games: vec![first_tier(config, pool)],
        genotype: None,
    };
    if out.exists() {
        if config.run.resume && path.exists() {
            let record: TournamentRecord = read_json(&path, "a tournament record")?;
            let want = fresh();
            let same = record.data == want.data
                && record.tiers == want.tiers
                && record.ops_per_game == want.ops_per_game
                && record.seed == want.seed
                && record.pool == want.pool
                && record.search == want.search
                && draws(&record.games[0]) == draws(&want.games[0]);
            if !same {
                return Err(PipelineError::Usage(format!(
                    "{} was started with other settings (data, tiers, ops per game, seed or search options); resume it with those, or start over with --force",
                    path.display()
                )));
            }
            log::info!("resuming the tournament in {}", out.display());
            return Ok(record);
        }
        if !config.run.resume && !config.run.force {
            return Err(PipelineError::Usage(format!(
                "{} exists: pass --resume to continue its tournament or --force to start over",
                out.display()
            )));
        }
        if config.run.force && !config.run.resume {
            std::fs::remove_dir_all(out).map_err(|e| artifacts::ArtifactError::io(out, e))?;
        }
    }
    std::fs::create_dir_all(out).map_err(|e| artifacts::ArtifactError::io(out, e))?;
    let record = fresh();
    write_json(&path, &record)?;
    Ok(record)
}

/// The job of `game`, written beside its folder.
fn write_job(config: &TournamentConfig, game: &GameRecord) -> Result<PathBuf, PipelineError> {
    let out = &config.run.out;
    let search = SearchConfig {
        node_ops: Some(game.sets.clone()),
        seed: game.seed,
        ..config.run.search.clone()
    };
    let job = GameJob {
        data: config.run.data.clone(),
        config: search,
        backend: config.run.backend,
        out: out.join(&game.folder),
    };
    let path = out.join(game.folder.with_extension("job.json"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| artifacts::ArtifactError::io(parent, e))?;
    }
    write_json(&path, &job)?;
    Ok(path)
}

/// Scores and kept ops of a finished game from its α.
fn judge(out: &Path, game: &mut GameRecord) -> Result<(), PipelineError> {
    let dir = out.join(&game.folder);
    let alphas: AlphasFile = read_json(&dir.join(ALPHAS_FILE), "an α file")?;
    let summary = SearchSummary::load(&dir.join(SEARCH_FILE))?;
    let space = OpSpace::from_ops(alphas.ops.clone());
    let flat = |rows: &[Vec<f32>]| rows.concat();
    let normal = tournament::node_scores(
        &flat(&alphas.normal),
        &space,
        &game.sets.normal,
        alphas.relaxation,
    );
    let reduce = tournament::node_scores(
        &flat(&alphas.reduce),
        &space,
        &game.sets.reduce,
        alphas.relaxation,
    );
    game.kept = Some(NodeOpSets {
        normal: tournament::keep_top_half(&normal),
        reduce: tournament::keep_top_half(&reduce),
    });
    game.scores = Some(CellScores { normal, reduce });
    game.search_val_accuracy = Some(summary.final_search_val_accuracy);
    game.seconds = Some(summary.seconds);
    Ok(())
}

/// Runs the unfinished games of the last tier in `record`, `jobs` at a
/// time, judging each as it finishes.
fn play_tier(
    config: &TournamentConfig,
    record: &mut TournamentRecord,
) -> Result<(), PipelineError> {
    let out = config.run.out.clone();
    let tier = record.games.len() - 1;
    let mut todo = Vec::new();
    for i in 0..record.games[tier].len() {
        let game = &mut record.games[tier][i];
        if out.join(&game.folder).join(SEARCH_FILE).exists() {
            if game.kept.is_none() {
                judge(&out, game)?;
            }
            log::info!(
                "tier {} game {}: finished before, kept",
                game.tier,
                game.index
            );
        } else {
            todo.push(i);
        }
    }
    write_json(&out.join(TOURNAMENT_FILE), &*record)?;
    let mut running: Vec<(usize, Child, PathBuf)> = Vec::new();
    let mut failed = Vec::new();
    let mut todo = todo.into_iter();
    loop {
        while running.len() < config.jobs {
            let Some(i) = todo.next() else { break };
            let game = &record.games[tier][i];
            let job = write_job(config, game)?;
            let log = out.join(game.folder.with_extension("log"));
            // Appended to: an interrupted game's log keeps its first part.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| artifacts::ArtifactError::io(&log, e))?;
            log::info!(
                "tier {} game {} (seed {}): edgenas game {} (log in {})",
                game.tier,
                game.index,
                game.seed,
                job.display(),
                log.display()
            );
            let args = vec!["game".to_string(), job.to_string_lossy().into_owned()];
            running.push((i, spawn_tracked(&config.exe, &args, file)?, log));
        }
        if running.is_empty() {
            break;
        }
        // The oldest game first: games of a tier take about as long.
        let (i, child, log) = running.remove(0);
        if !reap(child, &log)?.success() {
            failed.push(format!(
                "tier {} game {} failed (see {}):\n{}",
                tier + 1,
                i,
                log.display(),
                crate::executor::tail(&log, 5)
            ));
            continue;
        }
        judge(&out, &mut record.games[tier][i])?;
        write_json(&out.join(TOURNAMENT_FILE), &*record)?;
        log::info!("tier {} game {}: finished", tier + 1, i);
    }
    if !failed.is_empty() {
        return Err(PipelineError::Sweep(format!(
            "{}\nthe finished games are kept: rerun with --resume",
            failed.join("\n")
        )));
    }
    Ok(())
}

/// The op sets of every game, tier by tier, as a markdown table: one row
/// per game and cell type, one column per node (`kept` ops in bold).
pub fn table(record: &TournamentRecord) -> String {
    let nodes = record.search.nodes;
    let mut s = String::from("| tier | game | cell |");
    for j in 0..nodes {
        s.push_str(&format!(" node {j} |"));
    }
    s.push_str(" S val % |\n|---|---|---|");
    s.push_str(&"---|".repeat(nodes + 1));
    s.push('\n');
    for tier in &record.games {
        for game in tier {
            for (cell, sets, kept) in [
                (
                    "normal",
                    &game.sets.normal,
                    game.kept.as_ref().map(|k| &k.normal),
                ),
                (
                    "reduce",
                    &game.sets.reduce,
                    game.kept.as_ref().map(|k| &k.reduce),
                ),
            ] {
                s.push_str(&format!("| {} | {} | {cell} |", game.tier, game.index));
                for (j, set) in sets.iter().enumerate() {
                    let ops: Vec<String> = set
                        .iter()
                        .map(|op| match kept {
                            Some(k) if k[j].contains(op) => format!("**{op}**"),
                            _ => op.to_string(),
                        })
                        .collect();
                    s.push_str(&format!(" {} |", ops.join(", ")));
                }
                match game.search_val_accuracy {
                    Some(a) => s.push_str(&format!(" {a:.2} |\n")),
                    None => s.push_str(" – |\n"),
                }
            }
        }
    }
    s
}

/// Runs the tournament into `config.run.out`, then the final run (retrain,
/// export, device-bench) of its genotype into `OUT/final`.
pub fn run_tournament(
    config: &TournamentConfig,
    progress: &dyn Progress,
) -> Result<TournamentSummary, PipelineError> {
    validate(config)?;
    let pool = OpKind::dynamic();
    let mut record = open(config, &pool)?;
    let out = config.run.out.clone();
    for tier in 1..=config.tiers {
        if record.games.len() < tier {
            let next = next_tier(&record.games[tier - 2], tier, record.seed);
            record.games.push(next);
        }
        play_tier(config, &mut record)?;
        log::info!("tier {tier} of {} finished", config.tiers);
    }
    let last = &record.games[config.tiers - 1][0];
    let genotype = GenotypeFile::load(&out.join(&last.folder).join(GENOTYPE_FILE))?;
    record.genotype = Some(genotype.clone());
    write_json(&out.join(TOURNAMENT_FILE), &record)?;
    write_json(
        &out.join(GENOTYPE_FILE),
        &GenotypeFile {
            genotype: genotype.clone(),
            tool: Some(artifacts::tool_version()),
            data: Some(config.run.data.clone()),
            seed: Some(record.seed),
        },
    )?;
    let table = table(&record);
    artifacts::write_atomic(
        &out.join("tournament.md"),
        format!("# Tournament (seed {})\n\n{table}", record.seed).as_bytes(),
    )?;
    // The final run: the last game's genotype, retrained, exported and
    // measured; its table covers the last game's ops.
    let final_dir = out.join("final");
    let run = if config.run.resume && final_dir.join(RUN_FILE).exists() {
        log::info!("the final run had finished: {}", final_dir.display());
        RunSummary::load(&final_dir.join(RUN_FILE))?
    } else {
        let final_run = RunConfig {
            search: SearchConfig {
                node_ops: Some(last.sets.clone()),
                ..config.run.search.clone()
            },
            genotype: Some(genotype),
            random_genotype: false,
            out: final_dir,
            force: true,
            ..config.run.clone()
        };
        crate::run::run(&final_run, progress)?
    };
    Ok(TournamentSummary { record, table, run })
}
