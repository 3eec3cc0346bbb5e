//! Names checked once, where the configuration is read (parse, don't validate): a value of these
//! types is known good everywhere else. Each is a string in JSON; a bad one is an error naming
//! the field at start-up.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Define a string newtype whose every value passed `$check` (which may also normalise it).
macro_rules! checked_name {
    ($(#[$meta:meta])* $name:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $check(s).map(Self)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::try_from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

checked_name!(
    /// An AWS region code (`us-east-1`, `us-gov-west-1`): lowercase letters, digits and dashes,
    /// at least two dashes, ending with a digit. A typo is caught before a call goes to a wrong
    /// endpoint.
    Region,
    check_region
);

checked_name!(
    /// An RDS DB instance identifier: 1–63 lowercase letters, digits and hyphens, starting with a
    /// letter, no two hyphens in a row, not ending with one (RDS stores identifiers in lowercase:
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html#RDS_Limits.Constraints>).
    DbInstanceId,
    check_db_identifier
);

checked_name!(
    /// An Aurora DB cluster identifier or global database (global cluster) identifier: the same
    /// rules as a DB instance identifier (1–63 lowercase letters, digits and hyphens, starting with
    /// a letter, no two hyphens in a row, not ending with one;
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateGlobalCluster.html>).
    DbClusterId,
    check_cluster_identifier
);
checked_name!(
    /// A Route 53 hosted zone id (`Z0123456789ABC`), held without the `/hostedzone/` prefix the
    /// API sometimes returns (accepted on input).
    HostedZoneId,
    check_hosted_zone_id
);

checked_name!(
    /// An SNS topic ARN, `arn:PARTITION:sns:REGION:ACCOUNT:NAME`.
    TopicArn,
    check_topic_arn
);

impl TopicArn {
    /// The topic's region (SNS is called there).
    pub fn region(&self) -> &str {
        self.0.split(':').nth(3).unwrap_or_default()
    }
}

fn check_region(region: String) -> Result<String, String> {
    let ok = region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.chars().last().is_some_and(|c| c.is_ascii_digit());
    if ok {
        Ok(region)
    } else {
        Err(format!(
            "`{region}` is not an AWS region code such as `us-east-1`"
        ))
    }
}

fn check_db_identifier(id: String) -> Result<String, String> {
    let ok = (1..=63).contains(&id.len())
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-');
    if ok {
        Ok(id)
    } else {
        Err(format!(
            "`{id}` is not an RDS DB instance identifier (1-63 lowercase letters, digits, single hyphens, starting with a letter)"
        ))
    }
}

fn check_cluster_identifier(id: String) -> Result<String, String> {
    check_db_identifier(id.clone()).map_err(|_| {
        format!("`{id}` is not an Aurora DB cluster identifier (1-63 lowercase letters, digits, single hyphens, starting with a letter)")
    })
}

fn check_hosted_zone_id(id: String) -> Result<String, String> {
    let bare = id.trim_start_matches("/hostedzone/");
    if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{id}` is not a Route 53 hosted zone id such as `Z0123456789ABC`"
        ));
    }
    Ok(bare.to_owned())
}

fn check_topic_arn(arn: String) -> Result<String, String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && check_region(parts[3].to_owned()).is_ok()
        && !parts[5].is_empty();
    if ok {
        Ok(arn)
    } else {
        Err(format!(
            "`{arn}` is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_checked_once_and_then_reads_as_a_str() {
        let region: Result<Region, _> = "us-west-2".parse();
        assert!(region.as_ref().is_ok_and(|r| r == "us-west-2"));
        assert!("useast1".parse::<Region>().is_err());
        assert!("Orders".parse::<DbInstanceId>().is_err());
        let zone: Result<HostedZoneId, _> = "/hostedzone/Z0123".parse();
        assert_eq!(zone.map(String::from), Ok("Z0123".to_owned()));
        let topic: Result<TopicArn, _> = "arn:aws:sns:eu-west-1:123456789012:t".parse();
        assert_eq!(topic.as_ref().map(TopicArn::region), Ok("eu-west-1"));
        assert!("orders-topic".parse::<TopicArn>().is_err());
    }
}
