//! Loading tiny generated folders: every layout variant, and every error names its file.

use std::io::Write;
use std::path::Path;

use datasets::{DataError, load};
use flate2::Compression;
use flate2::write::GzEncoder;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// IDX images file: `n` images of `rows` x `cols`, pixel = image index.
fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x0803, n, rows, cols] {
        b.extend(v.to_be_bytes());
    }
    for i in 0..n {
        b.extend(std::iter::repeat_n(i as u8, (rows * cols) as usize));
    }
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x0801, labels.len() as u32] {
        b.extend(v.to_be_bytes());
    }
    b.extend(labels);
    b
}

/// CIFAR-10 records with the given labels; pixel = record index.
fn cifar(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        b.push(l);
        b.extend(std::iter::repeat_n(i as u8, 3072));
    }
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A valid IDX folder: 3 train / 2 test images of 2x3, gzipped or not.
fn idx_folder(gz: bool, test_prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ext = if gz { ".gz" } else { "" };
    let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    let p = dir.path();
    write(
        p,
        &format!("train-images-idx3-ubyte{ext}"),
        &enc(idx_images(3, 2, 3)),
    );
    write(
        p,
        &format!("train-labels-idx1-ubyte{ext}"),
        &enc(idx_labels(&[0, 2, 1])),
    );
    write(
        p,
        &format!("{test_prefix}-images-idx3-ubyte{ext}"),
        &enc(idx_images(2, 2, 3)),
    );
    write(
        p,
        &format!("{test_prefix}-labels-idx1-ubyte{ext}"),
        &enc(idx_labels(&[1, 1])),
    );
    dir
}

fn load_path(p: &Path) -> Result<datasets::Dataset, DataError> {
    load(p.to_str().unwrap())
}

/// Loads and expects an error whose message contains every one of `needles`.
fn expect_err(p: &Path, needles: &[&str]) -> DataError {
    let e = load_path(p).expect_err("load should fail");
    let msg = e.to_string();
    eprintln!("{msg}");
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} lacks {n:?}");
    }
    assert!(!msg.ends_with('.'), "no trailing period: {msg:?}");
    assert!(
        msg.starts_with(|c: char| !c.is_uppercase()),
        "lower case: {msg:?}"
    );
    e
}

#[test]
fn idx_plain_and_gzipped_load_the_same() {
    let plain = load_path(idx_folder(false, "t10k").path()).unwrap();
    let gz = load_path(idx_folder(true, "test").path()).unwrap();
    for d in [&plain, &gz] {
        assert_eq!((d.channels, d.height, d.width), (1, 2, 3));
        assert_eq!((d.train.len, d.test.len), (3, 2));
        assert_eq!(d.num_classes, 3, "max label + 1");
        assert_eq!(d.class_names, ["0", "1", "2"]);
        assert_eq!(d.train.labels, [0, 2, 1]);
        assert_eq!(d.train.image(2), &[2.0; 6]);
    }
    assert_eq!((&plain.train, &plain.test), (&gz.train, &gz.test));
}

#[test]
fn idx_dotted_names_and_gzip_without_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // Gzip detected by content even without .gz; dotted mirror spelling.
    write(p, "train-images.idx3-ubyte", &gzip(&idx_images(2, 1, 1)));
    write(p, "train-labels.idx1-ubyte", &idx_labels(&[0, 1]));
    write(p, "t10k-images.idx3-ubyte.gz", &gzip(&idx_images(1, 1, 1)));
    write(p, "t10k-labels.idx1-ubyte.gz", &gzip(&idx_labels(&[1])));
    let d = load_path(p).unwrap();
    assert_eq!((d.train.len, d.test.len, d.image_len()), (2, 1, 1));
}

#[test]
fn idx_truncated_images() {
    let dir = idx_folder(false, "t10k");
    let mut b = idx_images(3, 2, 3);
    b.truncate(b.len() - 1);
    write(dir.path(), "train-images-idx3-ubyte", &b);
    let e = expect_err(
        dir.path(),
        &["truncated", "train-images-idx3-ubyte", "34", "33"],
    );
    assert!(matches!(e, DataError::Truncated { .. }));

    // Shorter than the header itself.
    write(dir.path(), "train-images-idx3-ubyte", &b[..10]);
    expect_err(dir.path(), &["truncated", "train-images-idx3-ubyte"]);
}

#[test]
fn idx_truncated_gzipped_labels() {
    let dir = idx_folder(true, "t10k");
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &gzip(&idx_labels(&[1, 1])[..9]),
    );
    expect_err(dir.path(), &["truncated", "t10k-labels-idx1-ubyte.gz"]);
}

#[test]
fn idx_trailing_bytes() {
    let dir = idx_folder(false, "t10k");
    let mut b = idx_labels(&[0, 4, 2]);
    b.push(0);
    write(dir.path(), "train-labels-idx1-ubyte", &b);
    expect_err(
        dir.path(),
        &["longer than its header", "train-labels-idx1-ubyte"],
    );
}

#[test]
fn idx_wrong_magic() {
    let dir = idx_folder(false, "t10k");
    // Labels where images belong: magic 0x801 instead of 0x803.
    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &idx_labels(&[0, 1, 2]),
    );
    let e = expect_err(
        dir.path(),
        &[
            "wrong magic",
            "train-images-idx3-ubyte",
            "expected 0x00000803",
            "found 0x00000801",
        ],
    );
    assert!(matches!(e, DataError::BadMagic { .. }));
}

#[test]
fn idx_count_mismatch_names_both_files() {
    let dir = idx_folder(false, "t10k");
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_labels(&[1, 1, 1]),
    );
    expect_err(
        dir.path(),
        &[
            "t10k-images-idx3-ubyte",
            "2 images",
            "t10k-labels-idx1-ubyte",
            "3 labels",
        ],
    );
}

#[test]
fn idx_image_size_mismatch() {
    let dir = idx_folder(false, "t10k");
    write(dir.path(), "t10k-images-idx3-ubyte", &idx_images(2, 3, 2));
    expect_err(
        dir.path(),
        &[
            "image size differs",
            "train-images-idx3-ubyte",
            "1x2x3",
            "t10k-images-idx3-ubyte",
            "1x3x2",
        ],
    );
}

#[test]
fn idx_label_255_rejected() {
    let dir = idx_folder(false, "t10k");
    write(
        dir.path(),
        "train-labels-idx1-ubyte",
        &idx_labels(&[0, 255, 2]),
    );
    expect_err(
        dir.path(),
        &[
            "label 255",
            "record 1",
            "train-labels-idx1-ubyte",
            "below 255",
        ],
    );
}

#[test]
fn a_stray_label_is_named_not_turned_into_classes() {
    // Label 200 among 0–2 used to make a 201-class problem silently.
    let dir = idx_folder(false, "t10k");
    write(
        dir.path(),
        "train-labels-idx1-ubyte",
        &idx_labels(&[0, 1, 200]),
    );
    write(dir.path(), "t10k-labels-idx1-ubyte", &idx_labels(&[2, 200]));
    let e = expect_err(
        dir.path(),
        &[
            "train-labels-idx1-ubyte",
            "no training image of class 2",
            "2 image(s)",
            "200 (×2)",
            "201-class",
        ],
    );
    assert!(matches!(e, DataError::StrayLabels { .. }));
}

#[test]
fn fashion_folder_names_limit_labels() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("my-fashion-mnist");
    std::fs::create_dir(&dir).unwrap();
    let src = idx_folder(false, "t10k");
    for f in std::fs::read_dir(src.path()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    let d = load_path(&dir).unwrap();
    assert_eq!(d.name, "my-fashion-mnist");
    assert_eq!(d.num_classes, 10, "known names win over max label + 1");
    assert_eq!(d.class_names[4], "Coat");
    write(&dir, "t10k-labels-idx1-ubyte", &idx_labels(&[1, 10]));
    expect_err(&dir, &["label 10", "t10k-labels-idx1-ubyte", "below 10"]);
}

#[test]
fn idx_missing_file() {
    let dir = idx_folder(true, "test");
    std::fs::remove_file(dir.path().join("test-labels-idx1-ubyte.gz")).unwrap();
    let e = expect_err(
        dir.path(),
        &[
            "missing test labels",
            "t10k-labels-idx1-ubyte",
            "test-labels-idx1-ubyte",
        ],
    );
    assert!(e.to_string().contains(&dir.path().display().to_string()));
}

#[test]
fn bad_gzip_stream() {
    let dir = idx_folder(true, "t10k");
    let mut b = gzip(&idx_images(3, 2, 3));
    let mid = b.len() / 2;
    b.truncate(mid);
    write(dir.path(), "train-images-idx3-ubyte.gz", &b);
    let e = expect_err(
        dir.path(),
        &["bad gzip stream", "train-images-idx3-ubyte.gz"],
    );
    assert!(matches!(e, DataError::Gzip { .. }));

    write(
        dir.path(),
        "train-images-idx3-ubyte.gz",
        &[0x1f, 0x8b, 0, 0, 0, 0, 0],
    );
    expect_err(
        dir.path(),
        &["bad gzip stream", "train-images-idx3-ubyte.gz"],
    );
}

#[test]
fn missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("no-such-data");
    let e = expect_err(&gone, &["not found", "no-such-data"]);
    assert!(matches!(e, DataError::MissingFolder { .. }));
    // A file is not a folder either.
    write(dir.path(), "file", b"x");
    expect_err(&dir.path().join("file"), &["is not a folder", "file"]);
}

#[test]
fn unknown_layout_lists_expected_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "README", b"nothing here");
    let e = expect_err(
        dir.path(),
        &[
            "unknown dataset layout",
            "train-images-idx3-ubyte",
            "train.bin",
            "data_batch_1",
        ],
    );
    assert!(matches!(e, DataError::UnknownLayout { .. }));
}

#[test]
fn unknown_builtin() {
    let e = load("builtin:cifar").expect_err("only digits are embedded");
    assert!(e.to_string().contains("builtin:cifar"), "{e}");
    assert_eq!(load("builtin:digits").unwrap().train.len, 1437);
}

#[test]
fn cifar_plain_and_gzipped_with_meta() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "train.bin", &cifar(&[2, 0, 1]));
    write(p, "test.bin.gz", &gzip(&cifar(&[1, 2])));
    write(p, "batches.meta.txt", b"cat\n\ndog\nbird\n\n");
    let d = load_path(p).unwrap();
    assert_eq!((d.channels, d.height, d.width), (3, 32, 32));
    assert_eq!((d.train.len, d.test.len), (3, 2));
    assert_eq!(d.class_names, ["cat", "dog", "bird"]);
    assert_eq!(d.num_classes, 3);
    assert_eq!(d.train.labels, [2, 0, 1]);
    assert_eq!(d.train.image(1), &[1.0; 3072]);

    // With names known, label 3 is out of range.
    write(p, "test.bin.gz", &gzip(&cifar(&[1, 3])));
    expect_err(p, &["label 3", "record 1", "test.bin.gz", "below 3"]);
}

#[test]
fn cifar_without_meta_uses_max_label() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train.bin.gz", &gzip(&cifar(&[0, 2, 1])));
    write(dir.path(), "test.bin.gz", &gzip(&cifar(&[2])));
    let d = load_path(dir.path()).unwrap();
    assert_eq!(d.num_classes, 3);
    assert_eq!(d.class_names.last().map(String::as_str), Some("2"));
}

#[test]
fn cifar_official_batches_concatenate_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "data_batch_2.bin", &cifar(&[2, 0]));
    write(p, "data_batch_1.bin.gz", &gzip(&cifar(&[1])));
    write(p, "data_batch_5.bin", &cifar(&[3]));
    write(p, "test_batch.bin", &cifar(&[0]));
    let d = load_path(p).unwrap();
    assert_eq!(d.train.labels, [1, 2, 0, 3]);
    assert_eq!(d.test.labels, [0]);
    assert_eq!(d.num_classes, 4);
}

#[test]
fn cifar_partial_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = cifar(&[0, 1]);
    b.pop();
    write(dir.path(), "train.bin.gz", &gzip(&b));
    write(dir.path(), "test.bin", &cifar(&[0]));
    let e = expect_err(dir.path(), &["truncated", "train.bin.gz", "6145", "3073"]);
    assert!(matches!(e, DataError::PartialRecord { .. }));
}

#[test]
fn cifar_zero_records() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train.bin", &cifar(&[0]));
    write(dir.path(), "test.bin", &[]);
    expect_err(dir.path(), &["no records", "test.bin"]);
}

#[test]
fn cifar_missing_test_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "data_batch_1.bin", &cifar(&[0]));
    expect_err(
        dir.path(),
        &["missing test records", "test.bin", "test_batch.bin"],
    );
}
