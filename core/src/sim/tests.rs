use super::*;

#[test]
fn probe_seeds() {
    let faults = std::env::var("SIM_FAULTS").map(|f| Faults::parse(&f).unwrap()).unwrap_or(Faults::NONE);
    let n: u64 = std::env::var("SIM_SEEDS").map(|f| f.parse().unwrap()).unwrap_or(10);
    let t = std::time::Instant::now();
    let mut steps = 0;
    for seed in 0..n {
        let mut c = SimConfig::new(seed);
        c.faults = faults;
        let r = run(c);
        steps += r.steps;
        println!("{}", r.summary());
    }
    println!("{steps} steps in {:?}", t.elapsed());
}

#[test]
fn probe_one() {
    let Ok(seed) = std::env::var("SIM_SEED") else { return };
    let mut c = SimConfig::new(seed.parse().unwrap());
    c.faults = std::env::var("SIM_FAULTS").map(|f| Faults::parse(&f).unwrap()).unwrap_or(Faults::NONE);
    c.verbose = true;
    let r = run(c);
    println!("{}", r.summary());
}
