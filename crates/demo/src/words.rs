//! Word lists for names, places and sentences that look like a real business's data.

use crate::rng::Rng;

const FIRST: &[&str] = &[
    "Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Will", "Xenia", "Yusuf", "Zoe", "Ann", "Bo", "Chen", "Dana", "Emil", "Fatima", "Gustav",
    "Hana", "Ivan", "Jana", "Karl", "Lea", "Marco", "Nora",
];
const LAST: &[&str] = &[
    "Lee",
    "Ek",
    "Smith",
    "Novak",
    "Garcia",
    "Müller",
    "Rossi",
    "Kowalski",
    "Jensen",
    "Silva",
    "Nguyen",
    "O'Brien",
    "Schmidt",
    "Dubois",
    "Larsen",
    "Kim",
    "Costa",
    "Fischer",
    "Horvat",
    "Berg",
    "Moreau",
    "Virtanen",
    "Popescu",
    "Andersson",
    "Weber",
    "Ivanova",
    "Santos",
    "Nowak",
    "Bakker",
    "Hansen",
    "Meyer",
    "Lindqvist",
    "Yilmaz",
];
const COMPANY_A: &[&str] = &[
    "Acme",
    "Nordic",
    "Blue River",
    "Summit",
    "Granite",
    "Harbor",
    "Maple",
    "Pioneer",
    "Silverline",
    "Oak & Ash",
    "Northwind",
    "Brightwater",
    "Ironbridge",
    "Lakeside",
    "Redwood",
    "Sunrise",
    "Atlas",
    "Evergreen",
    "Keystone",
];
const COMPANY_B: &[&str] = &[
    "Trading",
    "Logistics",
    "Dental",
    "Consulting",
    "Builders",
    "Foods",
    "Software",
    "Legal",
    "Holdings",
    "Media",
    "Engineering",
    "Health",
    "Partners",
    "Supplies",
    "Motors",
    "Design",
];
const COMPANY_C: &[&str] = &[
    "Ltd", "GmbH", "AB", "Inc", "Oy", "SA", "BV", "LLC", "AS", "plc",
];
const CITIES: &[&str] = &[
    "Springfield",
    "Riverton",
    "Oakdale",
    "Lakewood",
    "Fairview",
    "Kingston",
    "Milton",
    "Ashford",
    "Bristol",
    "Uppsala",
    "Tampere",
    "Graz",
    "Lyon",
    "Porto",
    "Gdańsk",
    "Aarhus",
    "Utrecht",
    "Bergen",
];
const STREETS: &[&str] = &[
    "Main St",
    "High St",
    "Station Rd",
    "Mill Lane",
    "Park Ave",
    "Church St",
    "Harbour Rd",
    "Elm St",
];
const SUBJECTS: &[&str] = &[
    "Follow-up call",
    "Annual review",
    "Contract renewal",
    "Site visit",
    "Invoice query",
    "Onboarding",
    "Quarterly report",
    "Document request",
    "Meeting notes",
    "Complaint handling",
    "Price update",
    "Audit",
];
const NOTES: &[&str] = &[
    "Prefers email over phone.",
    "Asked for a discount on the next order.",
    "Moved to a new office last spring.",
    "Pays reliably but late in the month.",
    "Key contact changed; update the records.",
    "Interested in the premium plan.",
    "Send the documents by post.",
    "Called about the last invoice.",
    "Will be away until the end of the month.",
];

fn pick<'a>(rng: &mut Rng, list: &[&'a str]) -> &'a str {
    list[rng.below(list.len() as u64) as usize]
}

pub fn person(rng: &mut Rng) -> String {
    format!("{} {}", pick(rng, FIRST), pick(rng, LAST))
}

pub fn company(rng: &mut Rng) -> String {
    format!(
        "{} {} {}",
        pick(rng, COMPANY_A),
        pick(rng, COMPANY_B),
        pick(rng, COMPANY_C)
    )
}

pub fn email(name: &str, id: u64) -> String {
    let local: String = name
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('.'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    format!("{local}.{id}@example.com")
}

/// Text for a field: by generator name (`city`, `street`, `person`, `subject`, `sentence`,
/// `phone`), else a short phrase.
pub fn text(rng: &mut Rng, gen: &str, _customer: &str) -> String {
    match gen {
        "city" => pick(rng, CITIES).to_string(),
        "street" | "line1" => format!("{} {}", 1 + rng.below(200), pick(rng, STREETS)),
        "person" | "agent" => person(rng),
        "company" => company(rng),
        "subject" | "title" | "description" => pick(rng, SUBJECTS).to_string(),
        "phone" => format!("+1 555 {:04}", rng.below(10_000)),
        _ => pick(rng, NOTES).to_string(),
    }
}
