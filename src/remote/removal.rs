//! Parsing the answers of the decommissioning scripts (`inspect.sh`, `remove-host.sh`) into
//! [`crate::core::removal`]'s terms. Pure: split sections in, decisions out.

use crate::core::paths::FORWARDING_SYSCTLS;
use crate::core::removal::{Answer, Decommissioned, Inspection, KeptAs, Verdict};
use crate::remote::facts::Parsed;

/// The `@@generation` and `@@forward` sections both scripts print.
pub fn inspection(parsed: &Parsed) -> Inspection {
    let generation = parsed.section("generation").and_then(|(rest, _)| {
        let (what, number) = rest.split_once(' ')?;
        let number = number.trim().parse().ok()?;
        match what {
            "kept" => Some(KeptAs::Existing(number)),
            "new" => Some(KeptAs::New(number)),
            _ => None,
        }
    });
    let forwarding = parsed
        .lines("forward")
        .iter()
        .filter_map(|line| {
            let mut words = line.splitn(3, ' ');
            let verdict = words.next()?;
            let key = words.next()?;
            // Only the keys wgdeploy manages; the script prints nothing else.
            let key = FORWARDING_SYSCTLS.iter().find(|known| **known == key)?;
            match verdict {
                "off" => Some(Verdict::Off((*key).to_owned())),
                "keep" => Some(Verdict::Keep {
                    key: (*key).to_owned(),
                    why: words.next().unwrap_or("").to_owned(),
                }),
                _ => None,
            }
        })
        .collect();
    Inspection {
        generation,
        forwarding,
    }
}

/// What `remove-host.sh` answered: failed, cut short, not the removed host's interface, or done.
pub fn answer(parsed: &Parsed) -> Answer {
    if let Some((reason, _)) = parsed.section("fail") {
        return Answer::Failed {
            reason: reason.to_owned(),
            log: parsed.lines("log").to_vec(),
        };
    }
    if !parsed.ended || parsed.section("done").is_none() {
        return Answer::Cut;
    }
    if parsed.section("not-ours").is_some() {
        return Answer::NotOurs;
    }
    Answer::Done(Decommissioned {
        generation: inspection(parsed).generation,
        disabled: parsed.section("disabled").is_some(),
        removed_sysctl_file: parsed.section("removed-sysctl-file").is_some(),
        removed_key_file: parsed.section("removed-key-file").is_some(),
        switched_off: parsed.lines("switched-off").to_vec(),
        link_deleted: parsed.section("link-deleted").is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::facts::split;

    #[test]
    fn answers_parse_into_what_they_mean() {
        let parsed = split(b"@@generation kept 3\n@@forward\noff net.ipv4.ip_forward\nkeep net.ipv6.conf.all.forwarding /etc/sysctl.d/50-router.conf\noff kernel.panic\n@@end\n").unwrap();
        assert_eq!(
            inspection(&parsed),
            Inspection {
                generation: Some(KeptAs::Existing(3)),
                forwarding: vec![
                    Verdict::Off("net.ipv4.ip_forward".into()),
                    Verdict::Keep {
                        key: "net.ipv6.conf.all.forwarding".into(),
                        why: "/etc/sysctl.d/50-router.conf".into()
                    }
                ],
            },
            "a key wgdeploy does not manage is ignored"
        );
        let failed =
            split(b"@@generation new 1\n@@log\nRTNETLINK: busy\n@@fail cannot take wg0 down\n")
                .unwrap();
        assert_eq!(
            answer(&failed),
            Answer::Failed {
                reason: "cannot take wg0 down".into(),
                log: vec!["RTNETLINK: busy".into()]
            }
        );
        let cut = split(b"@@generation new 1\n").unwrap();
        assert_eq!(answer(&cut), Answer::Cut);
        let not_ours = split(b"@@not-ours\n@@done remove\n@@end\n").unwrap();
        assert_eq!(answer(&not_ours), Answer::NotOurs);
        let done = split(
            b"@@generation \n@@disabled\n@@link-deleted\n@@removed-key-file\n@@switched-off\n@@done remove\n@@end\n",
        )
        .unwrap();
        assert_eq!(
            answer(&done),
            Answer::Done(Decommissioned {
                generation: None,
                disabled: true,
                link_deleted: true,
                removed_key_file: true,
                ..Decommissioned::default()
            })
        );
    }
}
