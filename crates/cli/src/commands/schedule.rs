//! `offboard schedule`: the model's schedules, run from cron (or by hand), and the review
//! queue of runs a manager approves before they apply.

use offboard_engine::schedule::{RunKind, RunState};

use super::*;

pub(super) fn schedule(g: &Global, cmd: ScheduleCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let me = actor(g, &mut store)?;
    let mut engine = Engine::new(&mut store, me);
    match cmd {
        ScheduleCmd::List => {
            let list = engine.schedules()?;
            if g.json {
                return output::json(&list);
            }
            if list.is_empty() {
                println!(
                    "the {} model has no [[schedule]]; see docs/design.md (Retention that runs)",
                    engine.model().name
                );
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        s.schedule.id.clone(),
                        s.description.clone(),
                        match (&s.waiting, s.due, &s.next) {
                            (Some(w), _, _) => format!("run {w} waits for review"),
                            (None, true, _) => "due now".into(),
                            (None, false, Some(n)) => format!("next {n}"),
                            (None, false, None) => "not due".into(),
                        },
                        s.last
                            .as_ref()
                            .map(|r| format!("{} ({}, {})", r.ran_at, r.state.name(), r.period))
                            .unwrap_or_else(|| "never".into()),
                    ]
                })
                .collect();
            output::table(&["id", "what it does", "when", "last run"], &rows)
        }
        ScheduleCmd::Run {
            schedule,
            force,
            dry_run,
            plan,
        } => {
            engine.expect_plan(plan);
            let outcomes = engine.run_schedules(schedule.as_deref(), force, dry_run)?;
            let failed = outcomes
                .iter()
                .filter(|o| o.outcome == RunKind::Failed)
                .count();
            if g.json {
                output::json(&outcomes)?;
            } else {
                if outcomes.is_empty() {
                    println!(
                        "the {} model has no [[schedule]]; nothing to run",
                        engine.model().name
                    );
                }
                for o in &outcomes {
                    let run = o.run_id.map(|i| format!(" (run {i})")).unwrap_or_default();
                    println!("{} [{}]: {}{run}", o.schedule, o.run.name(), o.message);
                    if o.outcome == RunKind::DryRun {
                        if let Ok(plan) = serde_json::from_value::<PlanView>(o.plan.clone()) {
                            plan.print();
                            if !plan.fingerprint.is_empty() {
                                println!(
                                    "  plan {0}: run exactly this with --id {1} --force --plan {0}",
                                    plan.fingerprint, o.schedule
                                );
                            }
                        }
                    }
                }
                if dry_run {
                    println!("dry run: nothing was changed or recorded");
                }
            }
            if failed > 0 {
                bail!("{failed} schedule(s) could not run; nothing of them was applied");
            }
            Ok(())
        }
        ScheduleCmd::Runs { schedule, limit } => {
            let runs = engine.schedule_runs(schedule.as_deref(), None, limit)?;
            print_runs(g, &runs)
        }
        ScheduleCmd::Reviews => {
            let runs = engine.schedule_runs(None, Some(RunState::Review), 100)?;
            if runs.is_empty() && !g.json {
                println!("no run waits for review");
                return Ok(());
            }
            print_runs(g, &runs)
        }
        ScheduleCmd::Approve { run, dry_run, plan } => {
            if dry_run {
                let o = engine.approval_preview(run)?;
                if g.json {
                    return output::json(&o);
                }
                println!("approving run {run} of {} now: {}", o.schedule, o.message);
                if let Ok(p) = serde_json::from_value::<PlanView>(o.plan.clone()) {
                    p.print();
                    if !p.fingerprint.is_empty() {
                        println!(
                            "  plan {0}: approve exactly this with --plan {0}",
                            p.fingerprint
                        );
                    }
                }
                println!("dry run: nothing was changed");
                return Ok(());
            }
            engine.expect_plan(plan);
            let o = match engine.approve_run(run) {
                Err(offboard_engine::EngineError::PlanChanged { expected, plan }) => {
                    if g.json {
                        output::json(&plan.to_json())?;
                    } else if let Ok(p) = serde_json::from_value::<PlanView>(plan.to_json()) {
                        println!("approving run {run} would now do this:");
                        p.print();
                    }
                    bail!(
                        "the approval's plan changed since it was shown ({expected}; it is now {}): nothing was applied; check it and approve again with --plan {}",
                        plan.fingerprint,
                        plan.fingerprint
                    );
                }
                other => other?,
            };
            if g.json {
                return output::json(&o);
            }
            println!("approved run {run} of {}: {}", o.schedule, o.message);
            Ok(())
        }
        ScheduleCmd::Reject { run } => {
            let r = engine.reject_run(run)?;
            if g.json {
                return output::json(&r);
            }
            println!(
                "rejected run {run} of {}: nothing was applied to its {} customer(s)",
                r.schedule,
                r.customers.len()
            );
            Ok(())
        }
    }
}

fn print_runs(g: &Global, runs: &[offboard_engine::schedule::Run]) -> anyhow::Result<()> {
    if g.json {
        return output::json(&runs);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let ids: Vec<String> = r.customers.iter().take(10).map(|i| i.to_string()).collect();
            let more = if r.customers.len() > 10 {
                format!(" and {} more", r.customers.len() - 10)
            } else {
                String::new()
            };
            vec![
                r.id.to_string(),
                r.schedule.clone(),
                r.period.clone(),
                r.ran_at.clone(),
                r.state.name().to_string(),
                format!("{}{more}", ids.join(", ")),
                r.decided_by.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "run",
            "schedule",
            "period",
            "at",
            "state",
            "customers",
            "decided by",
        ],
        &rows,
    )
}

/// The parts of a plan a dry run's report shows.
#[derive(serde::Deserialize)]
struct PlanView {
    #[serde(default)]
    customers: Vec<CustomerView>,
    #[serde(default)]
    fingerprint: String,
}

#[derive(serde::Deserialize)]
struct CustomerView {
    id: i64,
    number: String,
    name: String,
    outcome: String,
    #[serde(default)]
    blockers: Vec<BlockerView>,
}

#[derive(serde::Deserialize)]
struct BlockerView {
    message: String,
}

impl PlanView {
    fn print(&self) {
        const SHOWN: usize = 20;
        for c in self.customers.iter().take(SHOWN) {
            let why: Vec<&str> = c.blockers.iter().map(|b| b.message.as_str()).collect();
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            };
            println!("  {} {} {}: {}{why}", c.id, c.number, c.name, c.outcome);
        }
        if self.customers.len() > SHOWN {
            println!(
                "  ... and {} more (--json lists every customer)",
                self.customers.len() - SHOWN
            );
        }
    }
}
