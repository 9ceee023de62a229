//! Writes a simulated organisation's day (`vigil_e2e::simorg`) as EventBridge event files, in
//! arrival order, for `vigil replay` (`make demo`): `sim_org DIR [SEED]`.

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().context("usage: sim_org DIR [SEED]")?);
    let seed: u64 = args
        .next()
        .map_or(Ok(7), |s| s.parse())
        .context("SEED is a number")?;
    std::fs::create_dir_all(&dir)?;
    let day = vigil_e2e::simorg::day(seed);
    for (n, batch) in day.deliveries.chunks(10).enumerate() {
        let ev = vigil_e2e::envelope(&format!("sim-{seed}-{n:04}"), batch.to_vec());
        std::fs::write(dir.join(format!("{n:04}.json")), serde_json::to_vec(&ev)?)?;
    }
    println!(
        "{} deliveries of {} findings ({} attacks) in {}",
        day.deliveries.len(),
        day.truth.len(),
        day.attacks.len(),
        dir.display()
    );
    Ok(())
}
