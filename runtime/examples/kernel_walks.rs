//! Times edgenas' depthwise kernel and pools in both walks on the geometries a
//! Fashion-MNIST network (C = 16, L = 8) deploys, one image, one thread:
//! `cargo run --release -p runtime --example kernel_walks [ROUNDS [GEOMETRY]]`,
//! GEOMETRY a prefix of "channels size k d s" ("16 28 5").
//! Prints µs per call (median of rounds) and multiply-adds per ns.

use std::sync::Arc;
use std::time::Instant;

use runtime::kernels::{DepthwiseConv, Geometry, PointwiseConv, Pool2d, PoolKind, Walk};

fn main() {
    runtime::memory::keep_freed_memory();
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("ROUNDS is a number"))
        .unwrap_or(300);
    // Optional: only the geometries whose "channels size k d s" starts so.
    let only = std::env::args().nth(2).unwrap_or_default();
    println!("1×1 convs: in out size | µs | MAC/ns");
    for (cin, cout, size) in [
        (48, 16, 28),
        (16, 16, 28),
        (64, 32, 14),
        (32, 32, 14),
        (128, 64, 7),
        (256, 64, 7),
        (64, 64, 7),
    ] {
        if !format!("pw {cin} {cout} {size}").starts_with(&only) {
            continue;
        }
        let op = PointwiseConv {
            in_channels: cin,
            out_channels: cout,
            input: [size, size],
            batched: true,
            weights: Arc::new(vec![0.01; cin * cout]),
            bias: Arc::new(vec![0.1; cout]),
            relu: true,
            residual: false,
        };
        let p = size * size;
        let input = vec![1.0f32; cin * p];
        let mut output = vec![0.0f32; cout * p];
        let us = median_us(rounds, || op.run(1, p, &input, &mut output));
        println!(
            "{cin:3} {cout:3} {size:2} | {us:8.2} | {:6.1}",
            (cin * cout * p) as f64 / us / 1e3
        );
    }
    println!("channels size k d s | planes µs  channels µs | MAC/ns planes channels | run() walk");
    for (channels, size) in [(16, 28), (32, 28), (32, 14), (64, 14), (64, 7)] {
        for (k, d) in [(3, 1), (5, 1), (3, 2), (5, 2)] {
            for s in [1, 2] {
                if s == 2 && size == 7 || s == 1 && channels == 32 && size == 28 {
                    continue;
                }
                if !format!("{channels} {size} {k} {d} {s}").starts_with(&only) {
                    continue;
                }
                let p = d * (k - 1) / 2;
                let geometry = Geometry {
                    channels,
                    input: [size, size],
                    kernel: [k, k],
                    stride: [s, s],
                    dilation: [d, d],
                    pad_before: [p, p],
                    pad_after: [p, p],
                };
                let [oh, ow] = geometry.output().expect("valid geometry");
                let op = DepthwiseConv {
                    geometry,
                    batched: true,
                    weights: Arc::new(vec![0.5; channels * k * k]),
                    bias: Arc::new(vec![0.1; channels]),
                    relu: true,
                };
                let input = vec![1.0f32; channels * size * size];
                let mut output = vec![0.0f32; channels * oh * ow];
                let macs = (channels * oh * ow * k * k) as f64;
                let mut time =
                    |walk: Walk| median_us(rounds, || op.run_walk(walk, 1, &input, &mut output));
                let (planes, chans) = (time(Walk::Planes), time(Walk::Channels));
                if k == 3 && d == 1 {
                    for kind in [
                        PoolKind::Max,
                        PoolKind::Average {
                            count_include_pad: false,
                        },
                    ] {
                        let pool = Pool2d::new(geometry, kind, true).expect("valid pool");
                        let time = |walk: Walk| {
                            let mut output = vec![0.0f32; channels * oh * ow];
                            median_us(rounds, || pool.run_walk(walk, 1, &input, &mut output))
                        };
                        let (planes, chans) = (time(Walk::Planes), time(Walk::Channels));
                        println!(
                            "{channels:3} {size:2} {k} {d} {s} | {planes:8.2} {chans:8.2} | {:6.1} {:6.1} | {:?} {:?}",
                            macs / planes / 1e3,
                            macs / chans / 1e3,
                            pool.walk(),
                            kind
                        );
                    }
                }
                println!(
                    "{channels:3} {size:2} {k} {d} {s} | {planes:8.2} {chans:8.2} | {:6.1} {:6.1} | {:?}",
                    macs / planes / 1e3,
                    macs / chans / 1e3,
                    op.walk()
                );
            }
        }
    }
}

/// The median of `rounds` timings of `run`, in µs.
fn median_us(rounds: usize, mut run: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}
