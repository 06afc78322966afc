//! A sparse Secure EPT: per 1 GiB, either one state for the whole GiB (mapped at 1 GiB once
//! accepted), or 512 2 MiB nodes, each one state (mapped at 2 MiB once accepted) or 512 4 KiB pages.
use std::collections::HashMap;

use warden_platform::memory::TdxLevel;

use crate::{HUGE, LARGE, PAGE};

/// The state of one private 4 KiB page in the simulated Secure EPT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    /// Private, not yet accepted (absent or PENDING): accessing it raises #VE.
    Pending,
    /// Accepted: usable.
    Accepted,
    /// Converted to shared by MapGPA: the private page is gone.
    Shared,
}

#[derive(Clone, Debug)]
enum Node2M {
    Uniform(PageState),
    Split(Box<[PageState; 512]>),
}

#[derive(Clone, Debug)]
enum Node1G {
    Uniform(PageState),
    Split(Box<[Node2M; 512]>),
}

/// What an accept at a level found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcceptResult {
    /// Was pending, now accepted.
    Accepted,
    /// Already accepted (at this or a larger size).
    AlreadyAccepted,
    /// Mapped at a smaller size than asked.
    SizeMismatch,
    /// Shared: not a private page.
    Shared,
}

/// The table; absent 1 GiB nodes are all pending.
#[derive(Debug, Default)]
pub(crate) struct Sept {
    nodes: HashMap<u64, Node1G>,
}

fn split_2m(n: &mut Node2M) -> &mut [PageState; 512] {
    if let Node2M::Uniform(s) = *n {
        *n = Node2M::Split(Box::new([s; 512]));
    }
    match n {
        Node2M::Split(pages) => pages,
        Node2M::Uniform(_) => unreachable!("split just above"),
    }
}

impl Sept {
    fn node(&mut self, gpa: u64) -> &mut Node1G {
        self.nodes.entry(gpa / HUGE).or_insert(Node1G::Uniform(PageState::Pending))
    }

    fn split_1g(&mut self, gpa: u64) -> &mut [Node2M; 512] {
        let node = self.node(gpa);
        if let Node1G::Uniform(s) = *node {
            *node = Node1G::Split(Box::new(std::array::from_fn(|_| Node2M::Uniform(s))));
        }
        match node {
            Node1G::Split(n) => n,
            Node1G::Uniform(_) => unreachable!("split just above"),
        }
    }

    /// The state of the 4 KiB page at `gpa`.
    pub(crate) fn state(&self, gpa: u64) -> PageState {
        match self.nodes.get(&(gpa / HUGE)) {
            None => PageState::Pending,
            Some(Node1G::Uniform(s)) => *s,
            Some(Node1G::Split(n)) => match &n[((gpa % HUGE) / LARGE) as usize] {
                Node2M::Uniform(s) => *s,
                Node2M::Split(p) => p[((gpa % LARGE) / PAGE) as usize],
            },
        }
    }

    /// TDG.MEM.PAGE.ACCEPT's effect on the table at `gpa` (aligned to `level` by the caller).
    pub(crate) fn accept(&mut self, gpa: u64, level: TdxLevel) -> AcceptResult {
        let from = |s: &mut PageState| match *s {
            PageState::Pending => {
                *s = PageState::Accepted;
                AcceptResult::Accepted
            }
            PageState::Accepted => AcceptResult::AlreadyAccepted,
            PageState::Shared => AcceptResult::Shared,
        };
        match self.node(gpa) {
            Node1G::Uniform(PageState::Accepted) => return AcceptResult::AlreadyAccepted,
            Node1G::Uniform(s) if level == TdxLevel::Size1G => return from(s),
            Node1G::Split(_) if level == TdxLevel::Size1G => return AcceptResult::SizeMismatch,
            _ => {}
        }
        let n2 = &mut self.split_1g(gpa)[((gpa % HUGE) / LARGE) as usize];
        match n2 {
            Node2M::Uniform(PageState::Accepted) => AcceptResult::AlreadyAccepted,
            Node2M::Uniform(s) if level == TdxLevel::Size2M => from(s),
            Node2M::Split(_) if level == TdxLevel::Size2M => AcceptResult::SizeMismatch,
            _ => from(&mut split_2m(n2)[((gpa % LARGE) / PAGE) as usize]),
        }
    }

    /// Sets the 4 KiB page at `gpa` (MapGPA), splitting larger mappings.
    pub(crate) fn set_page(&mut self, gpa: u64, state: PageState) {
        let n2 = &mut self.split_1g(gpa)[((gpa % HUGE) / LARGE) as usize];
        split_2m(n2)[((gpa % LARGE) / PAGE) as usize] = state;
    }

    /// Whether the node holding `gpa` is mapped as one 1 GiB page (tests).
    pub(crate) fn is_uniform_1g(&self, gpa: u64) -> bool {
        !matches!(self.nodes.get(&(gpa / HUGE)), Some(Node1G::Split(_)))
    }
}
