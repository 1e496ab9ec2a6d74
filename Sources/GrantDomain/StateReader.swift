/// What a decision may read of the recorded history.
///
/// Implementations must make each answer stable until the decision's events are
/// appended: the PostgreSQL reader locks the entity behind every read for the rest of
/// its transaction, so the rules checked against these answers hold under any number of
/// concurrent writers. Lookups across entities name the entity whose lock guards them.
public protocol StateReader: Sendable {
    func organisation(_ id: String) async throws -> OrganisationProfile?
    func reportingRules() async throws -> ReportingRules
    func call(_ id: String) async throws -> CallState?
    func consortium(_ id: String) async throws -> ConsortiumState?
    func application(_ id: String) async throws -> ApplicationState?
    func grant(_ id: String) async throws -> GrantState?
    func subGrant(_ id: String) async throws -> SubGrantState?
    func activity(_ id: String) async throws -> ActivityState?
    /// The value of an index for a year in force (the latest recorded); guarded by its stream.
    func indexValue(_ indexId: IndexId, year: Int64) async throws -> RecordIndexValue?
    /// Those of `ids` that name no registered organisation, in the order given. A
    /// registration is never undone, so this needs no lock.
    func unregisteredOrganisations(_ ids: [String]) async throws -> [String]
    /// Awards made under a call (immutable facts), in log order; guarded by the call.
    func grantAwards(ofCall callId: String) async throws -> [GrantAwardFacts]
    /// Awards made to a consortium (immutable facts), in log order; guarded by the consortium.
    func grantAwards(ofConsortium consortiumId: String) async throws -> [GrantAwardFacts]
    /// Applications of a consortium to a call; guarded by the consortium.
    func applications(ofConsortium consortiumId: String, call callId: String) async throws -> [ApplicationState]
    /// Sub-grants of a grant, cancelled ones included; guarded by the grant.
    func subGrants(ofGrant grantId: String) async throws -> [SubGrantState]
    /// The grant holding a contract number, if any; guarded by the contract number.
    func grantId(withContractNumber contractNumber: String) async throws -> String?
    /// A recorded sign-off (docs/domain.md §9); guarded by its report id.
    func indicatorReport(_ reportId: String) async throws -> IndicatorReportSignedOff?
    /// The revision of a target in force (the latest); guarded by its target id.
    func indicatorTarget(_ targetId: String) async throws -> SetIndicatorTarget?
    /// Whether a text of the organisation (its name, a sub-grant's purpose or cancellation
    /// reason) is recorded in clear, from before texts were encrypted (docs/domain.md §15).
    /// Texts recorded from now on are encrypted, so no lock guards this.
    func textsInClear(ofOrganisation organisationId: String) async throws -> Bool
    /// The position of the last event recorded (0 for an empty log).
    func logHead() async throws -> Int64
    /// The figures `signOff` records: its indicator's report (I.3: the §4 figures) for its
    /// period and filters as the log stood at `position` (at most the head), with the log's
    /// integrity fields there. Past positions never change, so no lock guards this.
    func indicatorFigures(_ signOff: SignOffIndicatorReport, at position: Int64) async throws
        -> (figures: SignedFigures, asOf: LogPoint)
}

/// What the rules read of an earlier grant award: which application it answered and how
/// much it committed. A call's budget check reads every award of the call, so readers
/// fetch these fields alone, not the whole recorded award with its member snapshot.
public struct GrantAwardFacts: Sendable, Hashable {
    public var grantId: String
    public var applicationId: String
    public var amount: Money

    public init(grantId: String, applicationId: String, amount: Money) {
        self.grantId = grantId
        self.applicationId = applicationId
        self.amount = amount
    }

    public init(_ award: GrantAwarded) {
        self.init(grantId: award.grantId, applicationId: award.applicationId, amount: award.amount)
    }
}
