//! Who may do what: staff roles and the actions the API exposes. The auth-matrix test walks
//! every route against every role using this table.

/// A role an API key or staff account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including keys, webhooks and the audit log.
    Admin,
    /// Runs the programme: customers, orders, refunds, corrections.
    Manager,
    /// Service desk: reads customers and points, records profile changes.
    Agent,
    /// Reads everything it needs for reports; writes nothing.
    Analyst,
    /// A shop's systems: sends customers, orders, refunds and events; reads back balances.
    Integration,
}

/// An action a request performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ReadCustomers,
    WriteCustomers,
    WriteOrders,
    ReadOrders,
    WriteEvents,
    ReadPoints,
    CorrectPoints,
    ManageWebhooks,
    ReadAudit,
    ManageKeys,
    /// The desk's queue, tickets and their clocks.
    ReadTickets,
    /// Opening tickets, writing messages and notes, changing status and assignment.
    WorkTickets,
    /// Calendars, SLA policies and previews.
    ConfigureDesk,
    /// The loyalty programme, earning rules, promotions, rewards and voucher pools.
    ConfigureLoyalty,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Manager,
        Role::Agent,
        Role::Analyst,
        Role::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Analyst => "analyst",
            Role::Integration => "integration",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may perform `action`.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin => true,
            Role::Manager => !matches!(action, ManageWebhooks | ReadAudit | ManageKeys),
            Role::Agent => matches!(
                action,
                ReadCustomers | ReadOrders | ReadPoints | WriteEvents | ReadTickets | WorkTickets
            ),
            Role::Analyst => matches!(
                action,
                ReadCustomers | ReadOrders | ReadPoints | ReadTickets
            ),
            Role::Integration => matches!(
                action,
                ReadCustomers
                    | WriteCustomers
                    | WriteOrders
                    | ReadOrders
                    | WriteEvents
                    | ReadPoints
                    | WorkTickets
            ),
        }
    }
}
