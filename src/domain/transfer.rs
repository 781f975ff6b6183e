//! Data sovereignty: may a dataset's data go to this requester? One pure
//! function of the dataset's transfer policy and the facts about who asks,
//! checked when access is requested, when it is approved and every time a
//! file link is issued (the dataset access issue wires it in).
//!
//! The country that counts is the requesting institution's when the request
//! is made on its behalf, otherwise the user's own; a user with no country
//! passes no policy but `unrestricted`. Data used in its country of origin
//! never crosses a border, so the origin country always passes
//! `allowed_countries`.

use crate::domain::resource::TransferPolicy;

/// What the policy needs to know about the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset<'a> {
    pub policy: TransferPolicy,
    /// ISO 3166-1 alpha-2 codes (uppercase).
    pub allowed_countries: &'a [String],
    pub origin_country: Option<&'a str>,
}

/// The institution a request is made on behalf of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnBehalfOf<'a> {
    pub country: &'a str,
    /// In an active partnership with the dataset's owning institution.
    pub partner_of_owner: bool,
}

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester<'a> {
    /// The user's own country, if they gave one.
    pub user_country: Option<&'a str>,
    pub institution: Option<OnBehalfOf<'a>>,
}

/// Why the data may not go there (each becomes a problem that says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No country to judge by: set your country, or ask on behalf of an institution.
    NoCountry,
    /// `allowed_countries` does not include this country.
    CountryNotAllowed { country: String },
    /// `partners_only`: the request is not made on behalf of an institution
    /// in an active partnership with the owner.
    NotAPartner,
    /// `in_country`: the data stays in its origin country.
    OutsideOriginCountry { country: String, origin: String },
    /// `in_country` without an origin country: nobody qualifies.
    NoOrigin,
}

impl Refusal {
    /// The rule and why, in plain words.
    pub fn explain(&self) -> String {
        match self {
            Self::NoCountry => "The dataset's transfer policy depends on where its data goes: set your country in your profile, or ask on behalf of your institution.".into(),
            Self::CountryNotAllowed { country } => format!("The owner allows this data only in listed countries, and {country} is not one of them."),
            Self::NotAPartner => "The owner shares this data only with institutions in an active partnership with it: ask on behalf of such an institution.".into(),
            Self::OutsideOriginCountry { country, origin } => format!("This data may not leave {origin}, and the request is from {country}."),
            Self::NoOrigin => "This data may not leave its country of origin, which the dataset does not name.".into(),
        }
    }
}

/// `Ok` when the dataset's policy lets its data go to `requester`.
pub fn check(dataset: &Dataset<'_>, requester: &Requester<'_>) -> Result<(), Refusal> {
    if dataset.policy == TransferPolicy::Unrestricted {
        return Ok(());
    }
    let country = requester
        .institution
        .map(|i| i.country)
        .or(requester.user_country)
        .ok_or(Refusal::NoCountry)?;
    match dataset.policy {
        TransferPolicy::Unrestricted => Ok(()),
        TransferPolicy::AllowedCountries => {
            let listed = dataset.allowed_countries.iter().any(|c| c == country);
            if listed || dataset.origin_country == Some(country) {
                Ok(())
            } else {
                Err(Refusal::CountryNotAllowed {
                    country: country.to_string(),
                })
            }
        }
        TransferPolicy::PartnersOnly => match requester.institution {
            Some(i) if i.partner_of_owner => Ok(()),
            _ => Err(Refusal::NotAPartner),
        },
        TransferPolicy::InCountry => match dataset.origin_country {
            None => Err(Refusal::NoOrigin),
            Some(origin) if origin == country => Ok(()),
            Some(origin) => Err(Refusal::OutsideOriginCountry {
                country: country.to_string(),
                origin: origin.to_string(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransferPolicy::{AllowedCountries, InCountry, PartnersOnly, Unrestricted};

    fn ds<'a>(
        policy: TransferPolicy,
        allowed: &'a [String],
        origin: Option<&'a str>,
    ) -> Dataset<'a> {
        Dataset {
            policy,
            allowed_countries: allowed,
            origin_country: origin,
        }
    }

    /// Every policy × (no country, user country in/out, institution in/out,
    /// partner or not) × origin known or not.
    #[test]
    fn the_truth_table() {
        let allowed = vec!["KE".to_string(), "TZ".to_string()];
        let none = Requester {
            user_country: None,
            institution: None,
        };
        let user = |c| Requester {
            user_country: Some(c),
            institution: None,
        };
        let inst = |user_country, country, partner_of_owner| Requester {
            user_country,
            institution: Some(OnBehalfOf {
                country,
                partner_of_owner,
            }),
        };
        let ok = Ok(());
        let not_allowed = |c: &str| {
            Err(Refusal::CountryNotAllowed {
                country: c.to_string(),
            })
        };
        let outside = |c: &str| {
            Err(Refusal::OutsideOriginCountry {
                country: c.to_string(),
                origin: "UG".to_string(),
            })
        };
        let cases: Vec<(&str, Dataset, Requester, Result<(), Refusal>)> = vec![
            (
                "unrestricted: anyone, even without a country",
                ds(Unrestricted, &[], None),
                none,
                ok.clone(),
            ),
            (
                "unrestricted: a user anywhere",
                ds(Unrestricted, &[], Some("UG")),
                user("BR"),
                ok.clone(),
            ),
            (
                "allowed: no country passes nothing",
                ds(AllowedCountries, &allowed, Some("UG")),
                none,
                Err(Refusal::NoCountry),
            ),
            (
                "allowed: a user in a listed country",
                ds(AllowedCountries, &allowed, Some("UG")),
                user("KE"),
                ok.clone(),
            ),
            (
                "allowed: a user elsewhere",
                ds(AllowedCountries, &allowed, Some("UG")),
                user("BR"),
                not_allowed("BR"),
            ),
            (
                "allowed: the origin country is never a transfer",
                ds(AllowedCountries, &allowed, Some("UG")),
                user("UG"),
                ok.clone(),
            ),
            (
                "allowed: the institution's country counts, not the user's (listed)",
                ds(AllowedCountries, &allowed, Some("UG")),
                inst(Some("BR"), "TZ", false),
                ok.clone(),
            ),
            (
                "allowed: the institution's country counts, not the user's (not listed)",
                ds(AllowedCountries, &allowed, Some("UG")),
                inst(Some("KE"), "BR", false),
                not_allowed("BR"),
            ),
            (
                "allowed: an institution speaks for a user without a country",
                ds(AllowedCountries, &allowed, None),
                inst(None, "KE", false),
                ok.clone(),
            ),
            (
                "partners: a user alone is not a partner",
                ds(PartnersOnly, &[], Some("UG")),
                user("KE"),
                Err(Refusal::NotAPartner),
            ),
            (
                "partners: without any country",
                ds(PartnersOnly, &[], Some("UG")),
                none,
                Err(Refusal::NoCountry),
            ),
            (
                "partners: an institution that is not a partner",
                ds(PartnersOnly, &[], Some("UG")),
                inst(Some("KE"), "KE", false),
                Err(Refusal::NotAPartner),
            ),
            (
                "partners: a partner institution, anywhere",
                ds(PartnersOnly, &[], Some("UG")),
                inst(None, "BR", true),
                ok.clone(),
            ),
            (
                "in country: a user there",
                ds(InCountry, &[], Some("UG")),
                user("UG"),
                ok.clone(),
            ),
            (
                "in country: a user elsewhere",
                ds(InCountry, &[], Some("UG")),
                user("KE"),
                outside("KE"),
            ),
            (
                "in country: the institution's country counts (there)",
                ds(InCountry, &[], Some("UG")),
                inst(Some("KE"), "UG", false),
                ok.clone(),
            ),
            (
                "in country: the institution's country counts (elsewhere)",
                ds(InCountry, &[], Some("UG")),
                inst(Some("UG"), "KE", true),
                outside("KE"),
            ),
            (
                "in country: no country",
                ds(InCountry, &[], Some("UG")),
                none,
                Err(Refusal::NoCountry),
            ),
            (
                "in country: no origin, nobody qualifies",
                ds(InCountry, &[], None),
                user("UG"),
                Err(Refusal::NoOrigin),
            ),
        ];
        for (case, d, r, expected) in cases {
            assert_eq!(check(&d, &r), expected, "{case}");
        }
    }

    #[test]
    fn every_refusal_explains_itself() {
        for r in [
            Refusal::NoCountry,
            Refusal::CountryNotAllowed {
                country: "BR".into(),
            },
            Refusal::NotAPartner,
            Refusal::OutsideOriginCountry {
                country: "KE".into(),
                origin: "UG".into(),
            },
            Refusal::NoOrigin,
        ] {
            assert!(r.explain().len() > 40, "{r:?}");
        }
    }
}
