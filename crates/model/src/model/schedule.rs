//! `[[schedule]]`: retention that runs. A schedule names an operation, how often it runs and
//! which customers it takes; `offboard schedule run` and the server's scheduler run each
//! schedule once per period (an hour, a day, an ISO week, a calendar month).

use serde::Serialize;

use super::Role;
use crate::rule::Rule;
use crate::value::{Date, DateTime};

/// What a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleRun {
    /// The model's purge: the recycle bin past `purge_retention_days`, and forgotten customers.
    Purge,
    Deactivate,
    /// The model's delete (to the recycle bin, or as the model says).
    Delete,
    /// An erasure of the selected customers, whatever their status.
    Erase,
    /// Rewrites the tables so erased rows leave the files (PostgreSQL: `VACUUM FULL`).
    Compact,
}

impl ScheduleRun {
    pub const ALL: [ScheduleRun; 5] = [
        ScheduleRun::Purge,
        ScheduleRun::Deactivate,
        ScheduleRun::Delete,
        ScheduleRun::Erase,
        ScheduleRun::Compact,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScheduleRun::Purge => "purge",
            ScheduleRun::Deactivate => "deactivate",
            ScheduleRun::Delete => "delete",
            ScheduleRun::Erase => "erase",
            ScheduleRun::Compact => "compact",
        }
    }

    pub fn parse(s: &str) -> Option<ScheduleRun> {
        ScheduleRun::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Whether it runs on customers a condition selects (`customers`, `older_than`).
    pub fn selects(self) -> bool {
        matches!(
            self,
            ScheduleRun::Deactivate | ScheduleRun::Delete | ScheduleRun::Erase
        )
    }
}

/// How often a schedule runs: once in each such period (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    Hour,
    Day,
    Week,
    Month,
}

impl Every {
    pub const ALL: [Every; 4] = [Every::Hour, Every::Day, Every::Week, Every::Month];

    pub fn name(self) -> &'static str {
        match self {
            Every::Hour => "hour",
            Every::Day => "day",
            Every::Week => "week",
            Every::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Option<Every> {
        Every::ALL.into_iter().find(|e| e.name() == s)
    }

    /// The period `at` falls in, as a key that names it: `2026-12-01T18` (hour),
    /// `2026-12-01` (day), `2026-W49` (ISO week), `2026-12` (month).
    pub fn period(self, at: DateTime) -> String {
        let date = at.date();
        match self {
            Every::Hour => {
                let hour = at.seconds().rem_euclid(86_400) / 3_600;
                format!("{date}T{hour:02}")
            }
            Every::Day => date.to_string(),
            Every::Week => {
                let (year, week) = date.iso_week();
                format!("{year}-W{week:02}")
            }
            Every::Month => date.to_string()[..7].to_string(),
        }
    }

    /// When the period after the one `at` falls in begins.
    pub fn next_start(self, at: DateTime) -> DateTime {
        let s = at.seconds();
        match self {
            Every::Hour => DateTime::from_seconds(s.div_euclid(3_600) * 3_600 + 3_600),
            Every::Day => DateTime::from_seconds(s.div_euclid(86_400) * 86_400 + 86_400),
            Every::Week => {
                // 1970-01-01 was a Thursday: Mondays are 4 days later.
                let days = s.div_euclid(86_400);
                let monday = (days - 4).div_euclid(7) * 7 + 4;
                DateTime::from_seconds((monday + 7) * 86_400)
            }
            Every::Month => at.date().first_of_next_month().at_midnight(),
        }
    }
}

/// A length of time counted back from now, in calendar units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Age {
    pub amount: u32,
    pub unit: AgeUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeUnit {
    Days,
    Weeks,
    Months,
    Years,
}

impl Age {
    /// Parses `7 years`, `90 days`, `1 month`, `2 weeks`.
    pub fn parse(s: &str) -> Option<Age> {
        let mut parts = s.split_whitespace();
        let amount: u32 = parts.next()?.parse().ok()?;
        let unit = match parts.next()? {
            "day" | "days" => AgeUnit::Days,
            "week" | "weeks" => AgeUnit::Weeks,
            "month" | "months" => AgeUnit::Months,
            "year" | "years" => AgeUnit::Years,
            _ => return None,
        };
        if parts.next().is_some() || amount > 1_000 * 366 {
            return None;
        }
        Some(Age { amount, unit })
    }

    /// The moment `self` before `now`: calendar months and years (31 March less a month is
    /// the last day of February).
    pub fn before(self, now: DateTime) -> DateTime {
        let secs = now.seconds();
        let day = i64::from(self.amount) * 86_400;
        match self.unit {
            AgeUnit::Days => DateTime::from_seconds(secs - day),
            AgeUnit::Weeks => DateTime::from_seconds(secs - 7 * day),
            AgeUnit::Months | AgeUnit::Years => {
                let months = match self.unit {
                    AgeUnit::Years => self.amount * 12,
                    _ => self.amount,
                };
                let date = now.date().minus_months(months);
                DateTime::from_seconds(date.at_midnight().seconds() + secs.rem_euclid(86_400))
            }
        }
    }
}

impl std::fmt::Display for Age {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            AgeUnit::Days => "day",
            AgeUnit::Weeks => "week",
            AgeUnit::Months => "month",
            AgeUnit::Years => "year",
        };
        let s = if self.amount == 1 { "" } else { "s" };
        write!(f, "{} {unit}{s}", self.amount)
    }
}

/// A checked `[[schedule]]`.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: String,
    /// What people call it; the id when the model gives no label.
    pub label: String,
    pub run: ScheduleRun,
    pub every: Every,
    /// Which customers it takes (a row condition on the customer).
    #[serde(serialize_with = "ser_rule")]
    pub customers: Option<Rule>,
    /// Customers whose `since` column is at least this long ago.
    pub older_than: Option<Age>,
    pub since: Option<String>,
    /// The deactivation reason (a `deactivate` schedule).
    pub reason: Option<String>,
    /// The roles that approve each run before it applies; empty: it applies at once.
    pub review: Vec<Role>,
    /// The roles that may force a run in a period it already ran in; empty: the review
    /// roles, else the roles that may change the settings.
    pub force: Vec<Role>,
}

fn ser_rule<S: serde::Serializer>(r: &Option<Rule>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_str(r.source()),
        None => s.serialize_none(),
    }
}

impl Schedule {
    /// In words: "delete customers where status is deactivated, deactivated on more than 7
    /// years ago, every week, approved by a manager first".
    pub fn describe(&self) -> String {
        let mut out = match self.run {
            ScheduleRun::Purge => "purge the recycle bin past its retention".to_string(),
            ScheduleRun::Compact => "compact the database files".to_string(),
            run => format!("{} customers", run.name()),
        };
        if let Some(c) = &self.customers {
            out.push_str(&format!(" where {}", c.words()));
        }
        if let (Some(age), Some(since)) = (&self.older_than, &self.since) {
            let joint = if self.customers.is_some() {
                ","
            } else {
                " whose"
            };
            out.push_str(&format!(
                "{joint} {} more than {age} ago",
                since.replace('_', " ")
            ));
        }
        out.push_str(&format!(", every {}", self.every.name()));
        if let Some(r) = self.review.first() {
            out.push_str(&format!(", approved by a {} first", r.name()));
        }
        out
    }
}

impl Date {
    /// The same day `months` calendar months earlier, or that month's last day.
    pub fn minus_months(self, months: u32) -> Date {
        let (y, m, d) = self.civil();
        let index = y * 12 + i64::from(m) - 1 - i64::from(months);
        let (ny, nm) = (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32);
        Date::from_civil(ny, nm, d.min(crate::value::month_days(ny, nm)))
    }

    /// The first day of the month after this date's.
    pub fn first_of_next_month(self) -> Date {
        let (y, m, _) = self.civil();
        if m == 12 {
            Date::from_civil(y + 1, 1, 1)
        } else {
            Date::from_civil(y, m + 1, 1)
        }
    }

    /// The ISO 8601 week-numbering year and week (Monday first; week 1 holds a Thursday).
    pub fn iso_week(self) -> (i64, u32) {
        let days = i64::from(self.days());
        // Monday = 0.
        let weekday = (days + 3).rem_euclid(7);
        let thursday = Date::from_days((days - weekday + 3) as i32);
        let (year, _, _) = thursday.civil();
        let jan1 = i64::from(Date::from_civil(year, 1, 1).days());
        let week = (i64::from(thursday.days()) - jan1) / 7 + 1;
        (year, week as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime {
        DateTime::parse(s).expect("a date-time")
    }

    #[test]
    fn periods_name_the_hour_day_iso_week_and_month() {
        let t = at("2026-12-01 18:14:38");
        assert_eq!(Every::Hour.period(t), "2026-12-01T18");
        assert_eq!(Every::Day.period(t), "2026-12-01");
        assert_eq!(Every::Week.period(t), "2026-W49");
        assert_eq!(Every::Month.period(t), "2026-12");
        // 2027-01-01 is a Friday: it is in 2026's week 53.
        assert_eq!(Every::Week.period(at("2027-01-01 00:00")), "2026-W53");
        assert_eq!(Every::Week.period(at("2024-12-30 00:00")), "2025-W01");
        assert_eq!(
            Every::Week.next_start(t).to_string(),
            at("2026-12-07 00:00").to_string()
        );
        assert_eq!(
            Every::Month.next_start(t).to_string(),
            at("2027-01-01 00:00").to_string()
        );
        assert_eq!(
            Every::Hour.next_start(t).to_string(),
            at("2026-12-01 19:00").to_string()
        );
    }

    #[test]
    fn ages_count_back_in_calendar_units() {
        let t = at("2026-03-31 10:00");
        let back = |s: &str| Age::parse(s).expect("an age").before(t).to_string();
        assert_eq!(back("1 month"), at("2026-02-28 10:00").to_string());
        assert_eq!(back("7 years"), at("2019-03-31 10:00").to_string());
        assert_eq!(back("90 days"), at("2025-12-31 10:00").to_string());
        assert_eq!(back("2 weeks"), at("2026-03-17 10:00").to_string());
        assert!(Age::parse("seven years").is_none());
        assert!(Age::parse("7 fortnights").is_none());
        assert!(Age::parse("7").is_none());
    }
}
