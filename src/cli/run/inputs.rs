//! The input files of a run with their sizes and SHA-256 checksums (`inputs.csv`), so that a
//! report names exactly the data it was made from.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub size_bytes: u64,
    /// Lower-case hexadecimal SHA-256 of the content.
    pub sha256: String,
}

/// Every file under `dir` (recursively, symbolic links followed, loops entered once), sorted
/// by path, with its checksum. Files that cannot be read are returned with an empty checksum.
pub fn checksum_inputs(dir: &Path) -> Vec<InputFile> {
    // The same walk as the scan: symbolic links followed (a night may be a link), loops
    // entered once.
    let (mut paths, _) = cometphot::scan::find_candidates(dir);
    paths.sort();
    paths
        .into_par_iter()
        .map(|path| {
            let (size_bytes, sha256) = sha256_file(&path).unwrap_or((0, String::new()));
            InputFile {
                path,
                size_bytes,
                sha256,
            }
        })
        .collect()
}

/// Size and SHA-256 (hex) of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((size, hex))
}

/// `inputs.csv`: path (relative to `dir` when below it), size and checksum.
pub fn inputs_csv(dir: &Path, files: &[InputFile]) -> String {
    let mut text = String::from("file,size_bytes,sha256\n");
    for f in files {
        let shown = f.path.strip_prefix(dir).unwrap_or(&f.path);
        text.push_str(&format!(
            "\"{}\",{},{}\n",
            shown.display().to_string().replace('"', "\"\""),
            f.size_bytes,
            f.sha256
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_strings() {
        // FIPS 180-2 appendix B.1 ("abc") and the empty message.
        let dir = tempfile::tempdir().unwrap();
        let abc = dir.path().join("abc");
        std::fs::write(&abc, b"abc").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            sha256_file(&abc).unwrap(),
            (
                3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string()
            )
        );
        assert_eq!(
            sha256_file(&empty).unwrap().1,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let listed = checksum_inputs(dir.path());
        assert_eq!(listed.len(), 2);
        assert!(listed[0].path.ends_with("abc"));
        let csv = inputs_csv(dir.path(), &listed);
        assert!(csv.starts_with("file,size_bytes,sha256\n\"abc\",3,ba7816bf"));
    }
}
