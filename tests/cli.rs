//! The `cometphot` binary: exit codes, output files and messages.

mod common;
use common::cometphot;

use std::path::Path;

#[test]
fn scan_of_shipped_data_exits_0_with_one_row_per_image_hdu() {
    let (code, stdout, stderr) = cometphot(&["scan"]);
    assert_eq!(code, 0, "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            "path,hdu,instrument,frame_type,object,filter,exptime_s,date_obs_utc,mjd_mid_utc,\
             airmass,naxis1,naxis2,binning,has_wcs,status,error"
        )
    );
    assert_eq!(lines.count(), 13);
    assert!(
        stderr.contains("13 ok, 0 with warnings, 0 skipped"),
        "{stderr}"
    );
}

#[test]
fn parquet_and_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["frames.parquet", "frames.csv"] {
        let out = dir.path().join(name);
        let (code, _, stderr) =
            cometphot(&["scan", "data/real/efosc2", "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
        let bytes = std::fs::read(&out).unwrap();
        if name.ends_with(".parquet") {
            assert_eq!(&bytes[..4], b"PAR1");
        } else {
            assert_eq!(String::from_utf8(bytes).unwrap().lines().count(), 5);
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn skipped_files_exit_2_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/real/sinistro-saao/saao1m_ste3_raw_a8280271.fits"),
        dir.path().join("good.fits"),
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.fits"), b"SIMPLE  =    T").unwrap();
    let (code, stdout, stderr) = cometphot(&["scan", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("broken.fits"), "{stderr}");
    assert!(
        stderr.contains("1 ok, 0 with warnings, 1 skipped"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 3);
}

#[test]
fn nothing_usable_and_usage_errors_exit_1() {
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = cometphot(&["scan", empty.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no FITS files found"), "{stderr}");

    let (code, _, stderr) = cometphot(&["scan", "no/such/dir"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no/such/dir: no such file or directory"),
        "{stderr}"
    );

    let (code, _, stderr) = cometphot(&["scan", "--no-such-option"]);
    assert_eq!(code, 1, "usage errors are 1, not clap's 2: {stderr}");
    let (code, stdout, _) = cometphot(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit status:"));

    let (code, _, stderr) = cometphot(&["scan", "--instrument", "hubble"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no instrument profile named 'hubble'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("alfosc"),
        "lists the known profiles: {stderr}"
    );
}

#[test]
fn instrument_can_be_forced_by_name_or_file() {
    let (code, stdout, _) = cometphot(&["scan", "data/real/neossat", "--instrument", "generic"]);
    // The generic profile has no EXPOSURE keyword mapping beyond its list, reads it anyway,
    // but cannot classify NEOSSat frames (no IMAGETYP): warnings, still usable.
    assert_eq!(code, 0);
    assert!(
        stdout
            .lines()
            .skip(1)
            .all(|l| l.contains(",generic,unknown,")),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("myneossat.toml");
    std::fs::write(
        &profile,
        "name = 'myneossat'\ndescription = 'test'\n[keywords]\nexptime_s = ['EXPOSURE']\n\
         date_obs = ['DATE-OBS']\n[[classify]]\nframe_type = 'science'\nwhen = { FILTER = ['CLEAR'] }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = cometphot(&[
        "scan",
        "data/real/neossat",
        "--instrument",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .skip(1)
            .all(|l| l.contains(",myneossat,science,")),
        "{stdout}"
    );
}
