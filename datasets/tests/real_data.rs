//! Loads the real datasets of the shared data folder; skips loudly when it is absent.

use std::path::PathBuf;

use datasets::{Normalization, load, shared_data_dir};

/// `<shared data>/<sub>` if present; otherwise prints a SKIPPED line (shown
/// with `--nocapture`) and returns `None`, so a missing folder never passes silently.
fn data(sub: &str) -> Option<PathBuf> {
    let dir = shared_data_dir()
        .map(|d| d.join(sub))
        .filter(|d| d.is_dir());
    if dir.is_none() {
        eprintln!(
            "SKIPPED: shared data folder {sub} not found (set {} or put it at ../../shared/data)",
            datasets::SHARED_DATA_ENV
        );
    }
    dir
}

fn load_dir(dir: &std::path::Path) -> datasets::Dataset {
    load(dir.to_str().expect("utf-8 path")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn fashion_mnist() {
    let Some(dir) = data("fashion-mnist") else {
        return;
    };
    let d = load_dir(&dir);
    assert_eq!(d.name, "fashion-mnist");
    assert_eq!((d.channels, d.height, d.width), (1, 28, 28));
    assert_eq!((d.train.len, d.test.len), (60_000, 10_000));
    assert_eq!(d.num_classes, 10);
    assert_eq!(d.class_names[0], "T-shirt/top");
    assert_eq!(d.class_names[9], "Ankle boot");
    // Well-known first labels: train starts with an ankle boot, test too.
    assert_eq!(&d.train.labels[..5], &[9, 0, 0, 3, 0]);
    assert_eq!(&d.test.labels[..5], &[9, 2, 1, 1, 6]);
    assert_eq!(d.train.class_counts(10), vec![6000; 10]);
    assert_eq!(d.test.class_counts(10), vec![1000; 10]);
    let n = d.train_normalization();
    assert!((n.mean[0] - 72.94).abs() < 0.01, "train mean {}", n.mean[0]);
    assert!(d.describe().starts_with("fashion-mnist ("));
}

#[test]
fn cifar10_3k() {
    let Some(dir) = data("cifar10-3k") else {
        return;
    };
    let d = load_dir(&dir);
    assert_eq!(d.name, "cifar10-3k");
    assert_eq!((d.channels, d.height, d.width), (3, 32, 32));
    assert_eq!((d.train.len, d.test.len), (2000, 1000));
    assert_eq!(d.num_classes, 10);
    assert_eq!(
        d.class_names,
        [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck"
        ]
    );
    assert_eq!(&d.train.labels[..10], &[6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    assert_eq!(&d.test.labels[..10], &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    assert_eq!(
        d.train.class_counts(10),
        vec![202, 191, 203, 195, 214, 183, 207, 199, 203, 203]
    );
    // Channel means quoted in the data README (R/G/B 125.3/123.3/113.9).
    let n = Normalization::from_split(&d.train, 3, 32, 32);
    for (m, want) in n.mean.iter().zip([125.3, 123.3, 113.9]) {
        assert!((m - want).abs() < 0.06, "mean {m} vs {want}");
    }
    let normalized = n.apply(&d.train.images, 3, 32, 32);
    let mean: f32 = normalized.iter().sum::<f32>() / normalized.len() as f32;
    assert!(mean.abs() < 1e-3, "normalized mean {mean}");
}

#[test]
fn cifar10_jpeg75_6k() {
    let Some(dir) = data("cifar10-jpeg75-6k") else {
        return;
    };
    let d = load_dir(&dir);
    assert_eq!((d.train.len, d.test.len), (5000, 1000));
    assert_eq!(d.test.class_counts(10), vec![100; 10]);
    assert_eq!(&d.test.labels[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
}

#[test]
fn digits_folder_equals_builtin() {
    let Some(dir) = data("digits8x8") else { return };
    let d = load_dir(&dir);
    let b = datasets::builtin_digits();
    assert_eq!(d.name, b.name);
    assert_eq!(d.class_names, b.class_names);
    assert_eq!((&d.train, &d.test), (&b.train, &b.test));
}
