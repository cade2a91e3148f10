//! `edgenas draw`: a genotype's normal and reduction cells as an SVG
//! diagram.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct DrawArgs {
    /// A genotype.json (from `edgenas search`), a search folder, or a run
    /// folder of `edgenas run` (its search/genotype.json is used).
    pub genotype: PathBuf,
    /// The SVG file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: DrawArgs) -> Result<()> {
    let path = [
        args.genotype.clone(),
        args.genotype.join(artifacts::GENOTYPE_FILE),
        args.genotype.join("search").join(artifacts::GENOTYPE_FILE),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or(args.genotype.clone());
    let genotype = artifacts::GenotypeFile::load(&path)?;
    artifacts::write_atomic(&args.out, pipeline::draw::cells_svg(&genotype).as_bytes())?;
    eprintln!(
        "drew the cells of {} ({}, {} nodes) into {}",
        path.display(),
        genotype.relaxation,
        genotype.n_nodes,
        args.out.display()
    );
    Ok(())
}
