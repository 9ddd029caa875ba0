//! Every ordered pair simulated on all cores, kept as one byte per direction; the details of the
//! few pairs that are not plainly reachable are recomputed on demand.

use crate::check::HostIndex;
use crate::check::places::PlaceIndex;
use crate::check::simulate::{MAX_HOPS, Simulation};
use crate::check::verdict::{Condition, Verdict};

/// Verdicts for every ordered pair of places, request and reply. One byte per direction: at
/// 10,000 hosts there are 10^8 directions, and only the few that are not plainly reachable need
/// their details, which are recomputed on demand.
pub struct Report<'s> {
    simulation: &'s Simulation<'s>,
    /// `codes[from * places + to]`: 0 reachable, 1 conditional, 2 unreachable; 0 too for a pair
    /// not tested (the diagonal, places on one host, the internet and whoever does not use its
    /// exit: [`Simulation::tested`] tells them apart), so that "all reachable" is all zeros.
    codes: Vec<u8>,
    /// Hosts are the first places.
    pub hosts: usize,
    pub places: usize,
    pub forwarders: Vec<HostIndex>,
}

/// Ordered pairs by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub reachable: usize,
    pub conditional: usize,
    pub unreachable: usize,
    /// Of all the pairs, how many are between two hosts (the rest involve a subnet or the
    /// internet).
    pub host_pairs: usize,
}

impl Counts {
    pub fn pairs(&self) -> usize {
        self.reachable + self.conditional + self.unreachable
    }
}

const REACHABLE: u8 = 0;
const CONDITIONAL: u8 = 1;
const UNREACHABLE: u8 = 2;

impl<'s> Report<'s> {
    /// Simulates every direction on all cores.
    pub fn run(simulation: &'s Simulation<'s>) -> Report<'s> {
        let hosts = simulation.network.nodes.len();
        let places = simulation.places();
        let rows = crate::core::parallel::map(places, |from| {
            let mut transit = vec![false; hosts];
            let mut path = Vec::with_capacity(MAX_HOPS + 1);
            let row: Vec<u8> = (0..places)
                .map(|to| {
                    if !simulation.tested(from, to) {
                        return REACHABLE;
                    }
                    let code = match simulation.direction_traced(from, to, &mut path) {
                        Verdict::Reachable => REACHABLE,
                        Verdict::Conditional(_) => CONDITIONAL,
                        Verdict::Unreachable(_) => UNREACHABLE,
                    };
                    if code != UNREACHABLE {
                        // Hosts in the middle of a delivered path are the ones that must forward,
                        // and so are the owners of a subnet or exit at its ends (a host's place
                        // index is its host index; other places' indices come after every host).
                        for &hop in path.iter().filter(|&&hop| hop != from && hop != to) {
                            transit[hop] = true;
                        }
                    }
                    code
                })
                .collect();
            (row, transit)
        });
        let mut transit = vec![false; hosts];
        let mut codes = Vec::with_capacity(places * places);
        for (row, row_transit) in rows {
            codes.extend(row);
            for (seen, hop) in transit.iter_mut().zip(row_transit) {
                *seen |= hop;
            }
        }
        Report {
            simulation,
            codes,
            hosts,
            places,
            forwarders: (0..hosts).filter(|&host| transit[host]).collect(),
        }
    }

    fn code(&self, from: PlaceIndex, to: PlaceIndex) -> u8 {
        self.codes[from * self.places + to]
    }

    /// Whether `check` tests the pair (see [`Simulation::tested`]).
    pub fn tested(&self, from: PlaceIndex, to: PlaceIndex) -> bool {
        self.simulation.tested(from, to)
    }

    /// The verdict of one direction, with its details.
    pub fn direction(&self, from: PlaceIndex, to: PlaceIndex) -> Verdict {
        match self.code(from, to) {
            REACHABLE => Verdict::Reachable,
            _ => self.simulation.direction(from, to),
        }
    }

    /// Whether the pair is reachable both ways without conditions, or not tested (no details
    /// computed).
    pub fn plainly_reachable(&self, from: PlaceIndex, to: PlaceIndex) -> bool {
        self.code(from, to) == REACHABLE && self.code(to, from) == REACHABLE
    }

    /// How many ordered pairs are reachable, conditional and unreachable (request and reply),
    /// from the stored codes alone.
    pub fn counts(&self) -> Counts {
        self.counts_where(|_, _| true)
    }

    /// [`Report::counts`] of the pairs from or to one place.
    pub fn counts_of(&self, place: PlaceIndex) -> Counts {
        self.counts_where(|from, to| from == place || to == place)
    }

    fn counts_where(&self, wanted: impl Fn(PlaceIndex, PlaceIndex) -> bool) -> Counts {
        let mut counts = Counts::default();
        for from in 0..self.places {
            for to in 0..self.places {
                if !self.simulation.tested(from, to) || !wanted(from, to) {
                    continue;
                }
                match self.code(from, to).max(self.code(to, from)) {
                    REACHABLE => counts.reachable += 1,
                    CONDITIONAL => counts.conditional += 1,
                    _ => counts.unreachable += 1,
                }
                if from < self.hosts && to < self.hosts {
                    counts.host_pairs += 1;
                }
            }
        }
        counts
    }

    /// A pair's verdict: the request `from → to` and the reply `to → from`.
    pub fn pair(&self, from: PlaceIndex, to: PlaceIndex) -> Verdict {
        if self.plainly_reachable(from, to) {
            return Verdict::Reachable;
        }
        match (self.direction(from, to), self.direction(to, from)) {
            (Verdict::Unreachable(problem), _) | (_, Verdict::Unreachable(problem)) => {
                Verdict::Unreachable(problem)
            }
            (Verdict::Reachable, Verdict::Reachable) => Verdict::Reachable,
            (one, other) => {
                let mut conditions: Vec<Condition> = [one, other]
                    .into_iter()
                    .flat_map(|verdict| match verdict {
                        Verdict::Conditional(conditions) => conditions,
                        _ => Vec::new(),
                    })
                    .collect();
                conditions.sort();
                conditions.dedup();
                Verdict::Conditional(conditions)
            }
        }
    }

    pub fn all_reachable(&self) -> bool {
        self.codes.iter().all(|&code| code == REACHABLE)
    }
}
