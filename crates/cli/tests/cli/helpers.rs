use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use offboard_testkit::TestDb;

/// Runs `offboard` in the test's directory against its database.
pub struct Cli {
    pub dir: PathBuf,
    pub db: String,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Cli {
    pub fn new(db: &TestDb) -> Cli {
        Cli {
            dir: db.dir.path().to_path_buf(),
            db: db.url.clone(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(&self.dir, args)
    }

    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_offboard"))
            .current_dir(dir)
            .env("OFFBOARD_DB", &self.db)
            .args(args)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
