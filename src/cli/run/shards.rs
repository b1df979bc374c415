//! `run --shard I/N` and `run --merge-shards N`: the nights of a campaign spread over the
//! tasks of a batch system (e.g. a Slurm job array) that share one output directory.
//!
//! Shard I of N measures the nights k (0-based, in name order) with k mod N = I − 1: their
//! tables and diagnostics are exactly those an unsharded run writes. It records which nights
//! it measured, and with which exit status, in `<out>/photometry/shard-I-of-N.tsv`.
//! `--merge-shards N` checks that the N records together name every night of the input once
//! (and that each measured night's table is there), then the run joins the nights' tables as
//! an unsharded run does and goes on with the analysis: the outputs are the unsharded run's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use cometphot::table::write_text_atomic;

use super::{night_name, NightOutcome};
use crate::cli::photometry::Shard;

/// The nights of `shard`: every `count`-th in name order, starting with the `index`-th.
pub fn shard_nights(nights: &[PathBuf], shard: Shard) -> Vec<PathBuf> {
    nights
        .iter()
        .enumerate()
        .filter(|(k, _)| k % shard.count == shard.index)
        .map(|(_, night)| night.clone())
        .collect()
}

fn record_path(out: &Path, index: usize, count: usize) -> PathBuf {
    out.join("photometry")
        .join(format!("shard-{}-of-{count}.tsv", index + 1))
}

/// Writes the record of `shard`: one line per night measured, `night<TAB>exit status` or
/// `night<TAB>failed<TAB>reason`.
pub fn write_record(out: &Path, shard: Shard, outcomes: &[NightOutcome]) -> anyhow::Result<()> {
    let mut text = String::from("night\tstatus\treason\n");
    for outcome in outcomes {
        match &outcome.result {
            Ok(code) => text.push_str(&format!("{}\t{code}\t\n", outcome.name)),
            Err(reason) => text.push_str(&format!(
                "{}\tfailed\t{}\n",
                outcome.name,
                reason.replace(['\t', '\n', '\r'], " ")
            )),
        }
    }
    let path = record_path(out, shard.index, shard.count);
    write_text_atomic(&path, &text).with_context(|| format!("cannot write {}", path.display()))
}

/// The outcomes of every night of `nights`, in that order, from the records of the `count`
/// shards in `out`; an error names what is missing (a shard that has not finished, a night
/// no shard measured, a night's table) or recorded twice.
pub fn read_records(
    out: &Path,
    nights: &[PathBuf],
    count: usize,
) -> anyhow::Result<Vec<NightOutcome>> {
    if count == 0 {
        bail!("--merge-shards: N must be at least 1");
    }
    let mut recorded: HashMap<String, NightOutcome> = HashMap::new();
    let mut unfinished = Vec::new();
    for index in 0..count {
        let path = record_path(out, index, count);
        let Ok(text) = std::fs::read_to_string(&path) else {
            unfinished.push(format!("{}/{count}", index + 1));
            continue;
        };
        for (line_index, line) in text.lines().enumerate().skip(1) {
            let mut fields = line.splitn(3, '\t');
            let (Some(name), Some(status)) = (fields.next(), fields.next()) else {
                bail!(
                    "{}: line {}: not night<TAB>status<TAB>reason",
                    path.display(),
                    line_index + 1
                );
            };
            let result = match status {
                "failed" => Err(fields.next().unwrap_or_default().to_string()),
                code => Ok(code.parse::<i32>().with_context(|| {
                    format!(
                        "{}: line {}: status '{code}' is not an exit status",
                        path.display(),
                        line_index + 1
                    )
                })?),
            };
            let outcome = NightOutcome {
                name: name.to_string(),
                result,
            };
            if recorded.insert(name.to_string(), outcome).is_some() {
                bail!(
                    "night {name} is recorded by two shards of {count} in {}",
                    out.display()
                );
            }
        }
    }
    if !unfinished.is_empty() {
        bail!(
            "shard(s) {} have not finished: no {} (run each with --shard I/{count} and the same \
             input and --out first)",
            unfinished.join(", "),
            record_path(out, 0, count)
                .with_file_name(format!("shard-I-of-{count}.tsv"))
                .display()
        );
    }
    let mut outcomes = Vec::with_capacity(nights.len());
    for night in nights {
        let name = night_name(night);
        let Some(outcome) = recorded.remove(&name) else {
            bail!(
                "night {name} was measured by none of the {count} shards (were they run on the \
                 same input?)"
            );
        };
        let table = out.join("photometry").join(format!("{name}.csv"));
        if outcome.result.is_ok() && !table.is_file() {
            bail!(
                "night {name}: its shard finished but {} is missing",
                table.display()
            );
        }
        outcomes.push(outcome);
    }
    if let Some(extra) = recorded.keys().min() {
        bail!("the shards measured night {extra}, which is not in the input");
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_nights() {
        let nights: Vec<PathBuf> = (0..7).map(|k| PathBuf::from(format!("n{k}"))).collect();
        let mut seen: Vec<PathBuf> = (0..3)
            .flat_map(|index| shard_nights(&nights, Shard { index, count: 3 }))
            .collect();
        assert_eq!(
            shard_nights(&nights, Shard { index: 1, count: 3 }),
            [PathBuf::from("n1"), PathBuf::from("n4")]
        );
        seen.sort();
        assert_eq!(seen, nights);
    }

    #[test]
    fn records_round_trip_and_gaps_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        std::fs::create_dir_all(out.join("photometry")).unwrap();
        let nights: Vec<PathBuf> = ["a", "b", "c"].iter().map(PathBuf::from).collect();
        for name in ["a", "c"] {
            std::fs::write(out.join("photometry").join(format!("{name}.csv")), "x\n").unwrap();
        }
        let first = [
            NightOutcome {
                name: "a".into(),
                result: Ok(0),
            },
            NightOutcome {
                name: "c".into(),
                result: Ok(2),
            },
        ];
        write_record(out, Shard { index: 0, count: 2 }, &first).unwrap();
        let err = read_records(out, &nights, 2).unwrap_err().to_string();
        assert!(err.contains("2/2") && err.contains("not finished"), "{err}");
        let second = [NightOutcome {
            name: "b".into(),
            result: Err("no frames\twith a tab".into()),
        }];
        write_record(out, Shard { index: 1, count: 2 }, &second).unwrap();
        let outcomes = read_records(out, &nights, 2).unwrap();
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(outcomes[1].result, Err("no frames with a tab".to_string()));
        assert_eq!(outcomes[2].result, Ok(2));
        // A night no shard measured, and a measured night whose table is gone.
        let four: Vec<PathBuf> = ["a", "b", "c", "d"].iter().map(PathBuf::from).collect();
        let err = read_records(out, &four, 2).unwrap_err().to_string();
        assert!(err.contains("night d"), "{err}");
        std::fs::remove_file(out.join("photometry").join("c.csv")).unwrap();
        let err = read_records(out, &nights, 2).unwrap_err().to_string();
        assert!(err.contains("night c") && err.contains("missing"), "{err}");
    }
}
