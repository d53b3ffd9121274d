//! Teachers: the shared pretrained ResNets reproduce their accuracy, the
//! bundled LeNets reach their targets, and training is bit-reproducible,
//! killed or not.

mod common;

use common::{accuracy, dfkd, dfkd_owned, stderr};
use dfkd::checkpoint::Checkpoint;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const IMAGENET_NORM: [&str; 4] = ["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"];

#[test]
fn shared_cifar10_resnets_reproduce_their_accuracy() {
    let (Some(teachers), Some(data)) = (
        common::shared_teachers("shared resnets"),
        common::shared_data("shared resnets"),
    ) else {
        return;
    };
    for (arch, expected) in [
        ("resnet20", "accuracy=91.73"),
        ("resnet56", "accuracy=93.39"),
    ] {
        let model = teachers.join(format!("cifar10-resnet-akamaster/{arch}.safetensors"));
        let data = format!("cifar10:{}", data.join("cifar10").display());
        let mut args = vec![
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--arch",
            arch,
            "--data",
            &data,
        ];
        args.extend(IMAGENET_NORM);
        let o = dfkd(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = common::stdout(&o);
        assert_eq!(out.lines().last(), Some(expected), "{arch}");
    }
}

#[test]
fn bundled_mnist_teacher_reaches_its_target() {
    let Some(data) = common::shared_data("bundled mnist teacher") else {
        return;
    };
    let model = common::repo().join("teachers/lenet5-mnist.safetensors");
    let o = dfkd(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &format!("mnist:{}", data.join("mnist").display()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let acc = accuracy(&o);
    assert!(acc >= 98.9, "MNIST teacher at {acc}%, target 98.9%");
}

#[test]
fn bundled_fashion_mnist_teachers_reach_their_targets() {
    let Some(dir) = common::fashion_mnist("bundled fashion-mnist teachers") else {
        return;
    };
    // LeNet-5 (the issue-2 target) and LeNet-5-BN, the demo's teacher.
    for (file, target) in [
        ("lenet5-fashion-mnist.safetensors", 89.5),
        ("lenet5-bn-fashion-mnist.safetensors", 89.5),
    ] {
        let model = common::repo().join("teachers").join(file);
        let o = dfkd(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            &format!("fashion-mnist:{}", dir.display()),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let acc = accuracy(&o);
        assert!(acc >= target, "{file} at {acc}%, target {target}%");
    }
}

#[test]
fn bundled_teachers_carry_their_metadata() {
    let ck = Checkpoint::read(&common::repo().join("teachers/lenet5-mnist.safetensors")).unwrap();
    let meta = ck.model_meta().unwrap().unwrap();
    assert_eq!(meta.arch, "lenet5");
    assert_eq!(meta.num_classes, 10);
    assert_eq!(meta.input_shape, [1, 32, 32]);
    assert_eq!(meta.normalization.mean, [0.1307]);
    assert_eq!(meta.dataset.as_deref(), Some("mnist"));
}

/// `dfkd train-teacher` of LeNet-5 on `data` with these settings.
fn train_args(data: &str, out: &Path, epochs: &str, batch: &str, seed: &str) -> Vec<String> {
    let out = out.to_str().unwrap();
    [
        "train-teacher",
        "--arch",
        "lenet5",
        "--data",
        data,
        "--epochs",
        epochs,
        "--batch-size",
        batch,
        "--seed",
        seed,
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn same_seed_gives_bit_identical_teacher_weights() {
    let dir = common::scratch("determinism");
    common::tiny_mnist(&dir, 600, 100);
    let data = format!("mnist:{}", dir.display());
    let train = |seed: &str, out: &str| {
        let out = dir.join(out);
        let o = dfkd_owned(&train_args(&data, &out, "2", "64", seed));
        assert!(o.status.success(), "{}", stderr(&o));
        (std::fs::read(&out).unwrap(), accuracy(&o))
    };
    let (a, acc) = train("3", "a.safetensors");
    let (b, _) = train("3", "b.safetensors");
    let (c, _) = train("4", "c.safetensors");
    assert!(a == b, "same seed, different weights");
    assert!(a != c, "different seeds, same weights");
    // --augment true crops and flips MNIST images (off by its recipe).
    let out = dir.join("d.safetensors");
    let mut args = train_args(&data, &out, "2", "64", "3");
    args.extend(["--augment", "true"].map(String::from));
    let o = dfkd_owned(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("crop + flip"), "{}", stderr(&o));
    assert!(
        std::fs::read(&out).unwrap() != a,
        "--augment changed nothing"
    );
    // The tiny task is learnable, so training did something.
    assert!(acc > 50.0, "accuracy {acc}");
}

#[test]
fn a_killed_teacher_training_resumes_to_the_same_weights() {
    let dir = common::scratch("teacher-kill");
    common::tiny_mnist(&dir, 2000, 100);
    let data = format!("mnist:{}", dir.display());
    let args = |out: &Path, seed: &str| train_args(&data, out, "8", "32", seed);
    let state_of = |out: &Path| PathBuf::from(format!("{}.resume", out.display()));

    let whole = dir.join("whole.safetensors");
    let o = dfkd_owned(&args(&whole, "3"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !state_of(&whole).exists(),
        "the resume state outlives its training"
    );

    // Kill (SIGKILL) a second training once an epoch is saved, wherever it is.
    let killed = dir.join("killed.safetensors");
    let mut child = common::dfkd_command()
        .args(args(&killed, "3"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let saved = || -> usize {
        Checkpoint::read(&state_of(&killed))
            .ok()
            .and_then(|ck| ck.metadata.get("epochs_done")?.parse().ok())
            .unwrap_or(0)
    };
    let start = Instant::now();
    while saved() < 1 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = saved();
    assert!((1..8).contains(&done), "killed after {done} epochs");
    assert!(!killed.exists());

    // Without --resume, or with other settings, the saved training is refused
    // and kept.
    let mut again = args(&killed, "3");
    let o = dfkd_owned(&again);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("killed.safetensors.resume") && err.contains("--resume"),
        "{err}"
    );
    let mut other_seed = args(&killed, "4");
    other_seed.push("--resume".into());
    let o = dfkd_owned(&other_seed);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("has --seed 3, this command 4"), "{err}");
    assert_eq!(saved(), done);

    again.push("--resume".into());
    let o = dfkd_owned(&again);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("{done} of 8 epochs already done")));
    assert_eq!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(&killed).unwrap(),
        "the resumed training ends with other weights"
    );
    assert!(!state_of(&killed).exists());
    let o = dfkd_owned(&again);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no unfinished training"),
        "{}",
        stderr(&o)
    );
}
