//! Finding duplicates: pairs of customers of one kind sharing a normalised email, phone or
//! name, best first.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

pub(crate) const CUSTOMERS: &str = "id,number,kind,name,email,phone,status\n\
1,1,person,Ann Lee,ann@example.com,+41 44 000 00 01,active\n\
2,2,person,ANN  LEE.,Ann@Example.com,0041-44-000-00-01,active\n\
3,3,person,Ann Lee,ann.lee@other.example,,active\n\
4,4,company,Ann Lee,ann@example.com,,active\n\
5,5,person,Bo Ek,bo@example.com,,deleted\n\
6,6,person,Bo Ek,bo@example.com,,active\n\
7,7,person,Cy Po,cy@example.com,,active\n\
8,8,person,Cy Po,CY@example.com,,deactivated\n";

fn pairs(v: &serde_json::Value) -> Vec<(i64, i64, i64, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["a"]["id"].as_i64().unwrap(),
                p["b"]["id"].as_i64().unwrap(),
                p["score"].as_i64().unwrap(),
                p["shared"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .collect()
}

conformance!(
    duplicates_are_found_by_email_phone_and_name_best_first,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("customers.csv"), CUSTOMERS).unwrap();
        cli.run(&["import", "data"]).ok();
        // By default email and name (a phone alone is weak evidence).
        let default = cli.run(&["duplicates", "--json"]).ok().json();
        assert_eq!(
            pairs(&default),
            vec![
                (1, 2, 4, "email,name".to_string()),
                (7, 8, 4, "email,name".to_string()),
                (1, 3, 1, "name".to_string()),
                (2, 3, 1, "name".to_string()),
            ],
            "{default:#}"
        );
        let all = cli
            .run(&["duplicates", "--by", "email,name,phone", "--json"])
            .ok()
            .json();
        assert_eq!(
            pairs(&all),
            vec![
                (1, 2, 6, "email,phone,name".to_string()),
                (7, 8, 4, "email,name".to_string()),
                (1, 3, 1, "name".to_string()),
                (2, 3, 1, "name".to_string()),
            ],
            "{all:#}"
        );
        // One signal; one kind; a limit.
        let by_email = cli
            .run(&["duplicates", "--by", "email", "--json"])
            .ok()
            .json();
        assert_eq!(
            pairs(&by_email),
            vec![
                (1, 2, 3, "email".to_string()),
                (7, 8, 3, "email".to_string())
            ]
        );
        let companies = cli
            .run(&["duplicates", "--kind", "company", "--json"])
            .ok()
            .json();
        assert_eq!(pairs(&companies), vec![]);
        let one = cli
            .run(&["duplicates", "--limit", "1", "--json"])
            .ok()
            .json();
        assert_eq!(pairs(&one).len(), 1);
        let every = cli
            .run(&["duplicates", "--limit", "0", "--json"])
            .ok()
            .json();
        assert_eq!(pairs(&every).len(), 4, "--limit 0 is all");
        // As a table, with what to do next.
        let text = cli
            .run(&["duplicates", "--by", "email,name,phone"])
            .ok()
            .stdout;
        assert!(text.contains("email, phone, name"), "{text}");
        assert!(
            text.contains("offboard merge DUPLICATE --into ID"),
            "{text}"
        );
        // What is not a signal, or a kind, is said.
        let r = cli.run(&["duplicates", "--by", "fax"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("compare by email, name or phone"),
            "{}",
            r.stderr
        );
        let r = cli.run(&["duplicates", "--kind", "robot"]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("`robot` is not a customer kind"),
            "{}",
            r.stderr
        );
    }
);
