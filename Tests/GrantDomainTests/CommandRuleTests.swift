import Foundation
import GrantDomain
import Testing

/// Builds a command's JSON text from its fields.
func command(_ name: String, _ fields: [String: Any]) -> String {
    var object = fields
    object["command"] = name
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

func organisation(_ id: String, region: String = "KZ-61", status: String = "unregistered", extra: [String: Any] = [:])
    -> String
{
    var fields: [String: Any] = [
        "organisationId": id, "name": "Org \(id)", "country": "KZ", "regionCode": region, "settlement": "rural",
        "registrationStatus": status, "leadershipGender": "women", "kind": "informalGroup",
    ]
    if status == "registered" {
        fields["bin"] = "950440001673"
        fields["kind"] = "ngo"
    }
    fields.merge(extra) { $1 }
    return command("registerOrganisation", fields)
}

/// A small history: a lead NGO, two small CSOs, a call with sub-granting (budget 1,000,000,
/// grants 100,000-600,000, sub-grants up to 60,000), a call without, a consortium, an
/// application and a grant of 500,000 with a 100,000 envelope.
func baseHistory() async throws -> InMemoryHistory {
    var history = InMemoryHistory()
    let commands = [
        organisation("LEAD", region: "KZ-71", status: "registered", extra: ["annualBudgetEur": "900000"]),
        organisation("S1"), organisation("S2"), organisation("S3"),
        command(
            "publishCall",
            [
                "callId": "C1", "reference": "EuropeAid/1/DD/ACT/KZ", "title": "T", "programme": "CSO-LA",
                "publishedOn": "2025-01-01", "deadline": "2025-03-31", "budget": "1000000", "minGrant": "100000",
                "maxGrant": "600000", "subGrantingAllowed": true, "maxSubGrant": "60000",
            ]),
        command(
            "publishCall",
            [
                "callId": "C2", "reference": "EuropeAid/2/DD/ACT/KZ", "title": "T2", "programme": "EIDHR",
                "publishedOn": "2025-01-01", "deadline": "2025-03-31", "budget": "500000", "minGrant": "100000",
                "maxGrant": "300000", "subGrantingAllowed": false,
            ]),
        command(
            "formConsortium",
            [
                "consortiumId": "K1", "name": "K1",
                "members": [
                    ["organisationId": "LEAD", "role": "lead"], ["organisationId": "S1", "role": "coApplicant"],
                ],
            ]),
        command(
            "formConsortium",
            ["consortiumId": "K2", "name": "K2", "members": [["organisationId": "LEAD", "role": "lead"]]]),
        command(
            "submitApplication",
            [
                "applicationId": "A1", "callId": "C1", "consortiumId": "K1", "submittedOn": "2025-03-01",
                "requestedAmount": "500000",
            ]),
        command(
            "submitApplication",
            [
                "applicationId": "A2", "callId": "C1", "consortiumId": "K2", "submittedOn": "2025-03-02",
                "requestedAmount": "600000",
            ]),
        command(
            "awardGrant",
            [
                "grantId": "G1", "applicationId": "A1", "contractNumber": "CN-1", "awardedOn": "2025-05-01",
                "amount": "500000", "startDate": "2025-06-01", "endDate": "2026-12-31", "subGrantingEnvelope": "100000",
            ]),
    ]
    for text in commands {
        try await history.execute(try CommandRequest.parse(text).command)
    }
    return history
}

/// Outcome of one command against the base history: nil when accepted, else the error code.
func outcome(_ text: String, after setup: [String] = []) async throws -> ErrorCode? {
    try await rejection(text, after: setup)?.code
}

/// The error a command gets after `setup` on the base history; nil when it is accepted.
func rejection(_ text: String, after setup: [String] = []) async throws -> DomainError? {
    var history = try await baseHistory()
    for step in setup { try await history.execute(try CommandRequest.parse(step).command) }
    do {
        try await history.execute(try CommandRequest.parse(text).command)
        return nil
    } catch let error as DomainError {
        return error
    }
}

struct RuleCase: CustomTestStringConvertible, Sendable {
    let name: String
    let command: String
    let setup: [String]
    let expected: ErrorCode?
    /// What the message must say, so that the case fails if another rule refuses it.
    let mentions: String?

    init(_ name: String, _ command: String, setup: [String] = [], _ expected: ErrorCode?, mentions: String? = nil) {
        self.name = name
        self.command = command
        self.setup = setup
        self.expected = expected
        self.mentions = mentions
    }

    var testDescription: String { name }
}

func subGrant(_ id: String, _ amount: String, _ org: String) -> String {
    command(
        "awardSubGrant",
        [
            "subGrantId": id, "grantId": "G1", "organisationId": org, "awardedOn": "2025-07-01", "amount": amount,
            "purpose": "p",
        ])
}
func award(_ overrides: [String: Any]) -> String {
    var fields: [String: Any] = [
        "grantId": "G2", "applicationId": "A2", "contractNumber": "CN-2", "awardedOn": "2025-05-01", "amount": "400000",
        "startDate": "2025-06-01", "endDate": "2026-12-31", "subGrantingEnvelope": "50000",
    ]
    fields.merge(overrides) { $1 }
    return command("awardGrant", fields)
}

func signOff(_ overrides: [String: Any]) -> String {
    var fields: [String: Any] = [
        "reportId": "R1", "indicator": "I.3", "from": "2025-01-01", "to": "2025-12-31", "position": 5,
        "signedOffOn": "2026-01-20",
    ]
    fields.merge(overrides) { $1 }
    return command("signOffIndicatorReport", fields)
}
/// A target of `indicator` without minimum shares (§14: they apply to I.3 only).
func plainTarget(_ indicator: String) -> String {
    command(
        "setIndicatorTarget",
        ["targetId": "T1", "indicator": indicator, "from": "2025-01-01", "to": "2026-12-31", "target": 20])
}
func target(_ overrides: [String: Any]) -> String {
    var fields: [String: Any] = [
        "targetId": "T1", "indicator": "I.3", "from": "2025-01-01", "to": "2026-12-31", "baseline": 0, "target": 20,
        "minimumShares": ["leadershipGender": ["women": "0.5"], "settlement": ["rural": "0.4"]],
    ]
    fields.merge(overrides) { $1 }
    return command("setIndicatorTarget", fields)
}

let ruleCases: [RuleCase] =
    [
        // Organisations
        RuleCase("register: fresh id accepted", organisation("NEW"), nil),
        RuleCase(
            "register: taken id", organisation("S1"), .alreadyExists,
            mentions: #"registerOrganisation: organisationId "S1" is already registered"#),
        RuleCase(
            "register: KZ without region",
            command(
                "registerOrganisation",
                [
                    "organisationId": "X", "name": "X", "country": "KZ", "settlement": "urban",
                    "registrationStatus": "unregistered", "leadershipGender": "men", "kind": "ngo",
                ]), .invalid,
            mentions: #"registerOrganisation: missing field "regionCode" (required when "country" is "KZ")"#),
        RuleCase(
            "register: unknown region", organisation("X", region: "KZ-00"), .invalid,
            mentions: #"registerOrganisation: field "regionCode" is "KZ-00", not an ISO 3166-2:KZ region code"#),
        RuleCase(
            "register: registered KZ without BIN", organisation("X", extra: ["registrationStatus": "registered"]),
            .invalid,
            mentions:
                #"registerOrganisation: missing field "bin" (required when "country" is "KZ" and "registrationStatus" is "registered")"#
        ),
        RuleCase(
            "register: unregistered with BIN", organisation("X", extra: ["bin": "950440001673"]), .invalid,
            mentions: #"registerOrganisation: field "bin" is "950440001673" but "registrationStatus" is "unregistered""#
        ),
        RuleCase(
            "register: bad BIN check digit", organisation("X", status: "registered", extra: ["bin": "950440001674"]),
            .invalid,
            mentions:
                #"registerOrganisation: field "bin" is "950440001674", not a valid BIN (12 digits with a valid check digit)"#
        ),
        RuleCase(
            "register: non-KZ without region",
            command(
                "registerOrganisation",
                [
                    "organisationId": "F", "name": "F", "country": "DE", "registrationStatus": "registered",
                    "leadershipGender": "men", "kind": "ingo",
                ]), nil),
        RuleCase(
            "register: non-KZ with region",
            command(
                "registerOrganisation",
                [
                    "organisationId": "F", "name": "F", "country": "DE", "regionCode": "KZ-71",
                    "registrationStatus": "registered", "leadershipGender": "men", "kind": "ingo",
                ]), .invalid,
            mentions: #"registerOrganisation: field "regionCode" is "KZ-71" but not "country" is "KZ""#),
        RuleCase(
            "register: name too long", organisation("X", extra: ["name": String(repeating: "n", count: 301)]), .invalid,
            mentions: #"registerOrganisation: field "name" is "nnnn"#),
        RuleCase(
            "update: becomes registered with BIN",
            command(
                "updateOrganisationProfile",
                ["organisationId": "S1", "registrationStatus": "registered", "bin": "990940003030"]), nil),
        RuleCase(
            "update: becomes registered without BIN",
            command("updateOrganisationProfile", ["organisationId": "S1", "registrationStatus": "registered"]),
            .invalid,
            mentions: #"updateOrganisationProfile: missing field "bin" (required for a registered organisation in KZ)"#),
        RuleCase(
            "update: becomes unregistered and loses BIN",
            command("updateOrganisationProfile", ["organisationId": "LEAD", "registrationStatus": "unregistered"]), nil),
        RuleCase(
            "update: unknown organisation",
            command("updateOrganisationProfile", ["organisationId": "NOPE", "name": "x"]),
            .notFound, mentions: #"updateOrganisationProfile: organisation "NOPE" does not exist"#),
        RuleCase(
            "update: nothing to change", command("updateOrganisationProfile", ["organisationId": "S1"]), .invalid,
            mentions:
                #"updateOrganisationProfile: give at least one of "name", "regionCode", "settlement", "registrationStatus", "bin", "leadershipGender", "kind", "annualBudgetEur", "staffCount""#
        ),
        // Rules
        RuleCase(
            "rules: set", command("setReportingRules", ["smallMaxAnnualBudgetEur": "50000", "smallMaxStaff": 5]), nil),
        RuleCase(
            "rules: money as number",
            command("setReportingRules", ["smallMaxAnnualBudgetEur": 50000, "smallMaxStaff": 5]),
            .invalid,
            mentions:
                #"setReportingRules: field "smallMaxAnnualBudgetEur" is 50000, expected a money amount as a string, non-negative with at most 2 decimals ("1250.50")"#
        ),
        // Calls
        RuleCase(
            "call: taken id",
            command(
                "publishCall",
                [
                    "callId": "C1", "reference": "r", "title": "t", "programme": "p", "publishedOn": "2025-01-01",
                    "deadline": "2025-02-01", "budget": "10", "minGrant": "1", "maxGrant": "5",
                    "subGrantingAllowed": false,
                ]), .alreadyExists, mentions: #"publishCall: callId "C1" is already published"#),
        RuleCase(
            "call: deadline before publication",
            command(
                "publishCall",
                [
                    "callId": "C9", "reference": "r", "title": "t", "programme": "p", "publishedOn": "2025-02-01",
                    "deadline": "2025-01-01", "budget": "10", "minGrant": "1", "maxGrant": "5",
                    "subGrantingAllowed": false,
                ]), .ruleViolated, mentions: #"publishCall: "deadline" 2025-01-01 is before "publishedOn" 2025-02-01"#),
        RuleCase(
            "call: min above max",
            command(
                "publishCall",
                [
                    "callId": "C9", "reference": "r", "title": "t", "programme": "p", "publishedOn": "2025-01-01",
                    "deadline": "2025-02-01", "budget": "10", "minGrant": "6", "maxGrant": "5",
                    "subGrantingAllowed": false,
                ]), .ruleViolated, mentions: #"publishCall: "minGrant" 6 exceeds "maxGrant" 5"#),
        RuleCase(
            "call: max above budget",
            command(
                "publishCall",
                [
                    "callId": "C9", "reference": "r", "title": "t", "programme": "p", "publishedOn": "2025-01-01",
                    "deadline": "2025-02-01", "budget": "10", "minGrant": "1", "maxGrant": "50",
                    "subGrantingAllowed": false,
                ]), .ruleViolated, mentions: #"publishCall: "maxGrant" 50 exceeds "budget" 10"#),
        RuleCase(
            "call: sub-grant cap above 60000",
            command(
                "publishCall",
                [
                    "callId": "C9", "reference": "r", "title": "t", "programme": "p", "publishedOn": "2025-01-01",
                    "deadline": "2025-02-01", "budget": "1000000", "minGrant": "1", "maxGrant": "50",
                    "subGrantingAllowed": true, "maxSubGrant": "60000.01",
                ]), .ruleViolated,
            mentions: #"publishCall: "maxSubGrant" 60000.01 exceeds the EU cap of 60000 per third party"#),
        RuleCase(
            "call: sub-granting without cap",
            command(
                "publishCall",
                [
                    "callId": "C9", "reference": "r", "title": "t", "programme": "p", "publishedOn": "2025-01-01",
                    "deadline": "2025-02-01", "budget": "10", "minGrant": "1", "maxGrant": "5",
                    "subGrantingAllowed": true,
                ]), .invalid,
            mentions: #"publishCall: missing field "maxSubGrant" (required when "subGrantingAllowed" is true)"#),
        RuleCase("close call", command("closeCall", ["callId": "C2", "closedOn": "2025-04-01"]), nil),
        RuleCase(
            "close unknown call", command("closeCall", ["callId": "C9", "closedOn": "2025-04-01"]), .notFound,
            mentions: #"closeCall: call "C9" does not exist"#),
        RuleCase(
            "close call twice", command("closeCall", ["callId": "C2", "closedOn": "2025-04-02"]),
            setup: [command("closeCall", ["callId": "C2", "closedOn": "2025-04-01"])], .ruleViolated,
            mentions: #"closeCall: call "C2" was already closed on 2025-04-01"#),
        // Consortia
        RuleCase(
            "consortium: two leads",
            command(
                "formConsortium",
                [
                    "consortiumId": "K9", "name": "n",
                    "members": [["organisationId": "S1", "role": "lead"], ["organisationId": "S2", "role": "lead"]],
                ]), .ruleViolated,
            mentions: #"formConsortium: field "members" has 2 members with role "lead", expected exactly one"#),
        RuleCase(
            "consortium: member twice",
            command(
                "formConsortium",
                [
                    "consortiumId": "K9", "name": "n",
                    "members": [
                        ["organisationId": "S1", "role": "lead"], ["organisationId": "S1", "role": "associate"],
                    ],
                ]), .ruleViolated, mentions: #"formConsortium: organisation "S1" appears twice in "members""#),
        RuleCase(
            "consortium: unknown member",
            command(
                "formConsortium",
                ["consortiumId": "K9", "name": "n", "members": [["organisationId": "NOPE", "role": "lead"]]]),
            .notFound,
            mentions: #"formConsortium: member organisation "NOPE" does not exist"#),
        RuleCase(
            "consortium: bad role",
            command(
                "formConsortium",
                ["consortiumId": "K9", "name": "n", "members": [["organisationId": "S1", "role": "boss"]]]), .invalid,
            mentions:
                #"formConsortium members[0]: field "role" is "boss", expected one of "lead", "coApplicant", "affiliatedEntity", "associate""#
        ),
        RuleCase(
            "add member to open consortium",
            command("addConsortiumMember", ["consortiumId": "K2", "organisationId": "S2", "role": "associate"]), nil),
        RuleCase(
            "add member after award",
            command("addConsortiumMember", ["consortiumId": "K1", "organisationId": "S2", "role": "associate"]),
            .ruleViolated,
            mentions: #"addConsortiumMember: consortium "K1" was awarded grant "G1"; its membership is fixed"#),
        RuleCase(
            "add existing member",
            command("addConsortiumMember", ["consortiumId": "K2", "organisationId": "LEAD", "role": "associate"]),
            .ruleViolated, mentions: #"addConsortiumMember: organisation "LEAD" is already a member of "K2""#),
        RuleCase(
            "add a second lead",
            command("addConsortiumMember", ["consortiumId": "K2", "organisationId": "S2", "role": "lead"]),
            .ruleViolated,
            mentions:
                #"addConsortiumMember: field "role" is "lead"; a consortium has exactly one lead, set when it is formed"#
        ),
        RuleCase(
            "remove the lead", command("removeConsortiumMember", ["consortiumId": "K2", "organisationId": "LEAD"]),
            .ruleViolated, mentions: #"removeConsortiumMember: "LEAD" is the lead of "K2" and cannot be removed"#),
        RuleCase(
            "remove after award", command("removeConsortiumMember", ["consortiumId": "K1", "organisationId": "S1"]),
            .ruleViolated,
            mentions: #"removeConsortiumMember: consortium "K1" was awarded grant "G1"; its membership is fixed"#),
        // Applications
        RuleCase(
            "second live application to a call",
            command(
                "submitApplication",
                [
                    "applicationId": "A9", "callId": "C1", "consortiumId": "K2", "submittedOn": "2025-03-05",
                    "requestedAmount": "200000",
                ]), .ruleViolated,
            mentions: #"submitApplication: consortium "K2" already has a live application "A2" to call "C1""#),
        RuleCase(
            "application after withdrawal",
            command(
                "submitApplication",
                [
                    "applicationId": "A9", "callId": "C1", "consortiumId": "K2", "submittedOn": "2025-03-05",
                    "requestedAmount": "200000",
                ]), setup: [command("withdrawApplication", ["applicationId": "A2", "withdrawnOn": "2025-03-04"])], nil),
        RuleCase(
            "application after deadline",
            command(
                "submitApplication",
                [
                    "applicationId": "A9", "callId": "C2", "consortiumId": "K2", "submittedOn": "2025-04-01",
                    "requestedAmount": "200000",
                ]), .ruleViolated,
            mentions: #"submitApplication: "submittedOn" 2025-04-01 is after the call's deadline 2025-03-31"#),
        RuleCase(
            "application to closed call",
            command(
                "submitApplication",
                [
                    "applicationId": "A9", "callId": "C2", "consortiumId": "K2", "submittedOn": "2025-03-01",
                    "requestedAmount": "200000",
                ]), setup: [command("closeCall", ["callId": "C2", "closedOn": "2025-02-01"])], .ruleViolated,
            mentions: #"submitApplication: call "C2" was closed on 2025-02-01 and takes no new applications"#),
        RuleCase(
            "requested amount out of range",
            command(
                "submitApplication",
                [
                    "applicationId": "A9", "callId": "C2", "consortiumId": "K2", "submittedOn": "2025-03-01",
                    "requestedAmount": "300000.01",
                ]), .ruleViolated,
            mentions: #"submitApplication: "requestedAmount" 300000.01 is outside the call's range 100000..300000"#),
        RuleCase(
            "application id taken",
            command(
                "submitApplication",
                [
                    "applicationId": "A1", "callId": "C2", "consortiumId": "K2", "submittedOn": "2025-03-01",
                    "requestedAmount": "200000",
                ]), .alreadyExists, mentions: #"submitApplication: applicationId "A1" already exists"#),
        RuleCase(
            "evaluate",
            command("evaluateApplication", ["applicationId": "A2", "score": 77, "evaluatedOn": "2025-04-01"]),
            nil),
        RuleCase(
            "evaluate with score 101",
            command("evaluateApplication", ["applicationId": "A2", "score": 101, "evaluatedOn": "2025-04-01"]),
            .invalid,
            mentions: #"evaluateApplication: field "score" is 101, expected an integer from 0 to 100"#),
        RuleCase(
            "reject",
            command("rejectApplication", ["applicationId": "A2", "rejectedOn": "2025-04-01", "reason": "low score"]),
            nil),
        RuleCase(
            "reject an awarded application",
            command("rejectApplication", ["applicationId": "A1", "rejectedOn": "2025-06-01", "reason": "x"]),
            .ruleViolated,
            mentions: #"rejectApplication: application "A1" was already awarded grant "G1""#),
        RuleCase(
            "withdraw a rejected application",
            command("withdrawApplication", ["applicationId": "A2", "withdrawnOn": "2025-05-01"]),
            setup: [command("rejectApplication", ["applicationId": "A2", "rejectedOn": "2025-04-01", "reason": "x"])],
            .ruleViolated, mentions: #"withdrawApplication: application "A2" was rejected on 2025-04-01"#),
        // Grants
        RuleCase("award within budget", award([:]), nil),
        RuleCase(
            "award over the call budget", award(["amount": "500001"]), .ruleViolated, mentions: "above its budget"),
        RuleCase(
            "award above requested", award(["amount": "600000.01", "applicationId": "A2", "subGrantingEnvelope": "0"]),
            setup: [], .ruleViolated, mentions: "exceeds the requested amount"),
        RuleCase(
            "award below call minimum", award(["amount": "99999"]), .ruleViolated, mentions: "outside the call's range"),
        RuleCase(
            "award with reused contract number", award(["contractNumber": "CN-1"]), .alreadyExists,
            mentions: #"awardGrant: contractNumber "CN-1" is already used by grant "G1""#),
        RuleCase(
            "award with taken grant id", award(["grantId": "G1"]), .alreadyExists,
            mentions: #"awardGrant: grantId "G1" already exists"#),
        RuleCase(
            "award twice on one application", award(["applicationId": "A1"]), .ruleViolated,
            mentions: #"awardGrant: application "A1" was already awarded grant "G1""#),
        RuleCase("award before submission", award(["awardedOn": "2025-03-01"]), .ruleViolated, mentions: "awardedOn"),
        RuleCase("award with end before start", award(["endDate": "2025-05-31"]), .ruleViolated, mentions: "endDate"),
        RuleCase(
            "award with envelope above amount", award(["subGrantingEnvelope": "400001"]), .ruleViolated,
            mentions: "subGrantingEnvelope"),
        RuleCase(
            "award on unknown application", award(["applicationId": "A9"]), .notFound,
            mentions: #"awardGrant: application "A9" does not exist"#),
        RuleCase(
            "disburse within amount",
            command("disburseGrant", ["grantId": "G1", "amount": "500000", "paidOn": "2025-06-01"]), nil),
        RuleCase(
            "disburse above amount",
            command("disburseGrant", ["grantId": "G1", "amount": "0.01", "paidOn": "2025-06-02"]),
            setup: [command("disburseGrant", ["grantId": "G1", "amount": "500000", "paidOn": "2025-06-01"])],
            .ruleViolated,
            mentions:
                #"disburseGrant: tranche 0.01 would bring disbursements to 500000.01, above the grant amount 500000"#),
        RuleCase(
            "disburse after closing",
            command("disburseGrant", ["grantId": "G1", "amount": "1", "paidOn": "2025-06-02"]),
            setup: [command("closeGrant", ["grantId": "G1", "closedOn": "2025-06-01"])], .ruleViolated,
            mentions: #"disburseGrant: grant "G1" was closed on 2025-06-01"#),
        RuleCase(
            "disburse unknown grant",
            command("disburseGrant", ["grantId": "G9", "amount": "1", "paidOn": "2025-06-02"]),
            .notFound, mentions: #"disburseGrant: grant "G9" does not exist"#),
        // Sub-grants
        RuleCase("sub-grant within envelope", subGrant("SG1", "60000", "S2"), nil),
        RuleCase(
            "sub-grant above call cap", subGrant("SG1", "60000.01", "S2"), .ruleViolated,
            mentions: #"awardSubGrant: "amount" 60000.01 exceeds the call's "maxSubGrant" 60000"#),
        RuleCase(
            "sub-grant above envelope", subGrant("SG2", "50000", "S3"), setup: [subGrant("SG1", "60000", "S2")],
            .ruleViolated,
            mentions:
                #"awardSubGrant: "amount" 50000 would bring sub-grants of "G1" to 110000, above its envelope 100000 (40000 free)"#
        ),
        RuleCase(
            "sub-grant after a cancellation frees envelope", subGrant("SG2", "50000", "S3"),
            setup: [
                subGrant("SG1", "60000", "S2"),
                command("cancelSubGrant", ["subGrantId": "SG1", "cancelledOn": "2025-07-02", "reason": "r"]),
            ], nil),
        RuleCase(
            "sub-grant to the lead", subGrant("SG1", "1000", "LEAD"), .ruleViolated,
            mentions: #"awardSubGrant: organisation "LEAD" leads grant "G1" and cannot receive its sub-grants"#),
        RuleCase(
            "sub-grant outside grant period",
            command(
                "awardSubGrant",
                [
                    "subGrantId": "SG1", "grantId": "G1", "organisationId": "S2", "awardedOn": "2025-05-31",
                    "amount": "1000", "purpose": "p",
                ]), .ruleViolated,
            mentions: #"awardSubGrant: "awardedOn" 2025-05-31 is outside the grant period 2025-06-01..2026-12-31"#),
        RuleCase(
            "sub-grant of zero", subGrant("SG1", "0", "S2"), .ruleViolated,
            mentions: #"awardSubGrant: field "amount" is "0"; it must be more than 0"#),
        RuleCase(
            "sub-grant to unknown organisation", subGrant("SG1", "1000", "NOPE"), .notFound,
            mentions: #"awardSubGrant: organisation "NOPE" does not exist"#),
        RuleCase(
            "sub-grant id taken", subGrant("SG1", "1000", "S3"), setup: [subGrant("SG1", "1000", "S2")], .alreadyExists,
            mentions: #"awardSubGrant: subGrantId "SG1" already exists"#),
        RuleCase(
            "sub-grant from a closed grant", subGrant("SG1", "1000", "S2"),
            setup: [command("closeGrant", ["grantId": "G1", "closedOn": "2025-06-01"])], .ruleViolated,
            mentions: #"awardSubGrant: grant "G1" was closed on 2025-06-01"#),
        RuleCase(
            "pay a sub-grant in full",
            command("disburseSubGrant", ["subGrantId": "SG1", "amount": "1000", "paidOn": "2025-07-02"]),
            setup: [subGrant("SG1", "1000", "S2")], nil),
        RuleCase(
            "pay a sub-grant beyond its amount",
            command("disburseSubGrant", ["subGrantId": "SG1", "amount": "1000.01", "paidOn": "2025-07-02"]),
            setup: [subGrant("SG1", "1000", "S2")], .ruleViolated,
            mentions:
                #"disburseSubGrant: payment 1000.01 would bring payments to 1000.01, above the sub-grant amount 1000"#
        ),
        RuleCase(
            "pay a cancelled sub-grant",
            command("disburseSubGrant", ["subGrantId": "SG1", "amount": "1", "paidOn": "2025-07-03"]),
            setup: [
                subGrant("SG1", "1000", "S2"),
                command("cancelSubGrant", ["subGrantId": "SG1", "cancelledOn": "2025-07-02", "reason": "r"]),
            ], .ruleViolated, mentions: #"disburseSubGrant: sub-grant "SG1" was cancelled on 2025-07-02"#),
        RuleCase(
            "cancel after a payment",
            command("cancelSubGrant", ["subGrantId": "SG1", "cancelledOn": "2025-07-03", "reason": "r"]),
            setup: [
                subGrant("SG1", "1000", "S2"),
                command("disburseSubGrant", ["subGrantId": "SG1", "amount": "1", "paidOn": "2025-07-02"]),
            ], .ruleViolated,
            mentions: #"cancelSubGrant: sub-grant "SG1" has payments (1); only an unpaid sub-grant can be cancelled"#),
        RuleCase(
            "cancel unknown sub-grant",
            command("cancelSubGrant", ["subGrantId": "SG9", "cancelledOn": "2025-07-03", "reason": "r"]), .notFound,
            mentions: #"cancelSubGrant: sub-grant "SG9" does not exist"#),
        // Sign-offs and targets (docs/domain.md §9-§10)
        RuleCase("a sign-off at a recorded position", signOff([:]), nil),
        RuleCase(
            "a sign-off beyond the head", signOff(["position": 999]), .ruleViolated,
            mentions: "\"position\" 999 is beyond the last recorded event"),
        RuleCase("a sign-off at position 0", signOff(["position": 0]), .invalid, mentions: "field \"position\""),
        RuleCase(
            "a sign-off of an unknown indicator", signOff(["indicator": "IV.1"]), .invalid, mentions: "\"indicator\""),
        // §14: any indicator of the framework may be signed off; I.5 has no programme or call.
        RuleCase("a sign-off of an activity indicator", signOff(["indicator": "II.2"]), nil),
        RuleCase("a sign-off of the indices", signOff(["indicator": "I.5"]), nil),
        RuleCase(
            "a sign-off of the indices for a programme", signOff(["indicator": "I.5", "programme": "CSO-LA"]),
            .invalid, mentions: "I.5"),
        RuleCase("a target of an activity indicator", plainTarget("III.5"), nil),
        RuleCase(
            "a target of an activity indicator with minimum shares", target(["indicator": "III.5"]), .invalid,
            mentions: "minimumShares"),
        RuleCase(
            "a target of the indices", plainTarget("I.5"), .invalid,
            mentions: "\"indicator\""),
        RuleCase("a sign-off of an unknown call", signOff(["callId": "C9"]), .notFound, mentions: "call \"C9\""),
        RuleCase("a sign-off of a recorded call", signOff(["callId": "C1", "programme": "CSO-LA"]), nil),
        RuleCase(
            "a sign-off with from after to", signOff(["from": "2026-01-01", "to": "2025-12-31"]), .ruleViolated,
            mentions: "\"to\" 2025-12-31 is before \"from\" 2026-01-01"),
        RuleCase(
            "a second sign-off with the same reportId", signOff(["position": 2]), setup: [signOff([:])], .alreadyExists,
            mentions: "reportId \"R1\""),
        RuleCase(
            "a sign-off whose note is too long", signOff(["note": String(repeating: "n", count: 2001)]), .invalid,
            mentions: "field \"note\""),
        RuleCase("a target", target([:]), nil),
        RuleCase("a target revised", target(["target": 30]), setup: [target([:])], nil),
        RuleCase("a target of zero", target(["target": 0]), nil),
        RuleCase(
            "a target whose minimumShares is null", target(["minimumShares": NSNull()]), .invalid,
            mentions: "field \"minimumShares\""),
        RuleCase(
            "a target with a share above 1", target(["minimumShares": ["settlement": ["rural": "1.5"]]]), .invalid,
            mentions: "field \"minimumShares.settlement.rural\" is \"1.5\""),
        RuleCase(
            "a target with a share of 5 decimals",
            target(["minimumShares": ["leadershipGender": ["women": "0.12345"]]]),
            .invalid, mentions: "field \"minimumShares.leadershipGender.women\""),
        RuleCase(
            "a target with a negative share", target(["minimumShares": ["channel": ["subGrant": "-0.1"]]]), .invalid,
            mentions: "field \"minimumShares.channel.subGrant\""),
        RuleCase(
            "a target with an unknown dimension", target(["minimumShares": ["age": ["young": "0.5"]]]), .invalid,
            mentions: "dimension \"age\""),
        RuleCase(
            "a target with an unknown value", target(["minimumShares": ["settlement": ["suburban": "0.5"]]]), .invalid,
            mentions: "value \"suburban\""),
        RuleCase(
            "a target with from after to", target(["from": "2026-01-01", "to": "2025-12-31"]), .ruleViolated,
            mentions: "\"to\" 2025-12-31 is before \"from\""),
        RuleCase("a target of an unknown indicator", target(["indicator": "I.9"]), .invalid, mentions: "\"indicator\""),
        RuleCase("a negative target", target(["target": -1]), .invalid, mentions: "field \"target\""),
    ] + activityCases

/// An activity under grant G1, or by the EU with `organiser: "eu"` and no grant.
func activity(_ extra: [String: Any] = [:], removing: [String] = []) -> String {
    var fields: [String: Any] = [
        "activityId": "ACT-1", "title": "Dialogue on the enabling environment", "startedOn": "2025-07-01",
        "kind": "dialogue", "organiser": "grantee", "grantId": "G1", "withGovernment": true,
        "themes": ["enablingEnvironment"], "participants": ["S1", "S2"],
    ]
    fields.merge(extra) { $1 }
    for key in removing { fields.removeValue(forKey: key) }
    return command("recordActivity", fields)
}

/// Counts for `peopleSupported`: every group and gender, one woman HRD unless told otherwise.
func people(_ counts: [String: [String: Any]] = [:]) -> [String: Any] {
    var result: [String: Any] = [:]
    for group in ["hrd", "activist", "journalist"] {
        var inner: [String: Any] = ["women": 0, "men": 0, "undisclosed": 0]
        if group == "hrd" { inner["women"] = 1 }
        inner.merge(counts[group] ?? [:]) { $1 }
        result[group] = inner
    }
    return result
}

func indexValue(_ extra: [String: Any] = [:]) -> String {
    var fields: [String: Any] = [
        "indexId": "civicusMonitor", "year": 2024, "value": "37.5", "rating": "Repressed",
        "source": "CIVICUS Monitor 2024",
    ]
    fields.merge(extra) { $1 }
    return command("recordIndexValue", fields)
}

/// docs/domain.md §12: activities, retractions, index values.
let activityCases: [RuleCase] = [
    RuleCase("activity by a grantee under its grant", activity(), nil),
    RuleCase(
        "activity by the EU, national, no participants",
        activity(["organiser": "eu", "participants": [], "themes": []], removing: ["grantId"]), nil),
    RuleCase(
        "protection support with counts",
        activity(["kind": "protectionSupport", "peopleSupported": people(), "regionCode": "KZ-75"]), nil),
    RuleCase(
        "activity id taken", activity(), setup: [activity()], .alreadyExists,
        mentions: #"recordActivity: activityId "ACT-1" already exists"#),
    RuleCase(
        "activity ends before it starts", activity(["endedOn": "2025-06-30"]), .invalid,
        mentions: #"recordActivity: "endedOn" 2025-06-30 is before "startedOn" 2025-07-01"#),
    RuleCase(
        "grantee activity without a grant", activity(removing: ["grantId"]), .invalid,
        mentions: #"recordActivity: missing field "grantId""#),
    RuleCase(
        "EU activity with a grant", activity(["organiser": "eu"]), .invalid,
        mentions: #"recordActivity: field "grantId""#),
    RuleCase(
        "activity under an unknown grant", activity(["grantId": "G9"]), .notFound,
        mentions: #"recordActivity: grant "G9" does not exist"#),
    RuleCase(
        "activity outside its grant's period", activity(["startedOn": "2025-05-31"]), .ruleViolated,
        mentions: #"recordActivity: "startedOn" 2025-05-31 is outside the period of grant "G1" 2025-06-01..2026-12-31"#),
    RuleCase(
        "activity with an unknown participant", activity(["participants": ["S1", "NOPE"]]), .notFound,
        mentions: #"recordActivity: participant organisation "NOPE" does not exist"#),
    RuleCase(
        "activity with a participant twice", activity(["participants": ["S1", "S1"]]), .invalid,
        mentions: #"recordActivity: field "participants" lists "S1" twice"#),
    RuleCase(
        "activity with 1001 participants", activity(["participants": (0...1000).map { "P\($0)" }]), .invalid,
        mentions: #"recordActivity: field "participants""#),
    RuleCase(
        "activity with a theme twice", activity(["themes": ["gender", "gender"]]), .invalid,
        mentions: #"recordActivity: field "themes" lists "gender" twice"#),
    RuleCase(
        "activity with an unknown theme", activity(["themes": ["weather"]]), .invalid,
        mentions: #"recordActivity: field "themes[0]" is "weather""#),
    RuleCase(
        "activity with an unknown region", activity(["regionCode": "KZ-00"]), .invalid,
        mentions: #"recordActivity: field "regionCode" is "KZ-00", not an ISO 3166-2:KZ region code"#),
    RuleCase(
        "protection support without counts", activity(["kind": "protectionSupport"]), .invalid,
        mentions: #"recordActivity: missing field "peopleSupported""#),
    RuleCase(
        "counts on another kind of activity", activity(["peopleSupported": people()]), .invalid,
        mentions: #"recordActivity: field "peopleSupported""#),
    RuleCase(
        "protection support counting nobody",
        activity(["kind": "protectionSupport", "peopleSupported": people(["hrd": ["women": 0]])]), .invalid,
        mentions: #"recordActivity: field "peopleSupported" counts nobody"#),
    RuleCase(
        "protection support without a gender",
        activity([
            "kind": "protectionSupport",
            "peopleSupported": [
                "hrd": ["women": 1, "men": 0], "activist": ["women": 0, "men": 0, "undisclosed": 0],
                "journalist": ["women": 0, "men": 0, "undisclosed": 0],
            ],
        ]),
        .invalid, mentions: #"recordActivity: field "peopleSupported.hrd" lacks "undisclosed""#),
    RuleCase(
        "protection support with a name",
        activity(["kind": "protectionSupport", "peopleSupported": people(["hrd": ["name": 1]])]),
        .invalid, mentions: #"recordActivity: field "peopleSupported.hrd" has gender "name""#),
    RuleCase(
        "protection support above 100000",
        activity(["kind": "protectionSupport", "peopleSupported": people(["journalist": ["men": 100_001]])]), .invalid,
        mentions: #"recordActivity: field "peopleSupported.journalist.men" is 100001"#),
    RuleCase(
        "retract an activity",
        command("retractActivity", ["activityId": "ACT-1", "retractedOn": "2025-08-01", "reason": "r"]),
        setup: [activity()], nil),
    RuleCase(
        "retract an unknown activity",
        command("retractActivity", ["activityId": "ACT-9", "retractedOn": "2025-08-01", "reason": "r"]), .notFound,
        mentions: #"retractActivity: activity "ACT-9" does not exist"#),
    RuleCase(
        "retract twice",
        command("retractActivity", ["activityId": "ACT-1", "retractedOn": "2025-08-02", "reason": "r"]),
        setup: [
            activity(),
            command("retractActivity", ["activityId": "ACT-1", "retractedOn": "2025-08-01", "reason": "r"]),
        ], .ruleViolated, mentions: #"retractActivity: activity "ACT-1" was already retracted on 2025-08-01"#),
    RuleCase(
        "retract before it started",
        command("retractActivity", ["activityId": "ACT-1", "retractedOn": "2025-06-30", "reason": "r"]),
        setup: [activity()], .ruleViolated,
        mentions: #"retractActivity: "retractedOn" 2025-06-30 is before the activity started (2025-07-01)"#),
    RuleCase("an index value", indexValue(), nil),
    RuleCase("an index value revised", indexValue(["value": "39"]), setup: [indexValue()], nil),
    RuleCase("an index value of 1000", indexValue(["value": "1000"]), nil),
    RuleCase(
        "an index value above 1000", indexValue(["value": "1000.01"]), .invalid,
        mentions: #"recordIndexValue: field "value" is "1000.01""#),
    RuleCase(
        "an index value with 3 decimals", indexValue(["value": "37.125"]), .invalid,
        mentions: #"recordIndexValue: field "value" is "37.125""#),
    RuleCase(
        "an index year out of range", indexValue(["year": 1999]), .invalid,
        mentions: #"recordIndexValue: field "year" is 1999"#),
    RuleCase(
        "an unknown index", indexValue(["indexId": "happiness"]), .invalid,
        mentions: #"recordIndexValue: field "indexId" is "happiness""#),
]

@Suite("Business rules of docs/domain.md §2")
struct CommandRuleTests {
    @Test("every case that expects a rejection names the message it expects")
    func everyRejectionNamed() {
        let unnamed = ruleCases.filter { $0.expected != nil && $0.mentions == nil }.map(\.name)
        #expect(unnamed.isEmpty, "\(unnamed)")
    }

    @Test("each rule accepts and rejects", arguments: ruleCases)
    func rule(_ rule: RuleCase) async throws {
        let error = try await rejection(rule.command, after: rule.setup)
        #expect(error?.code == rule.expected, "\(rule.name): \(error?.message ?? "accepted")")
        if let mentions = rule.mentions {
            #expect(error?.message.contains(mentions) == true, "\(rule.name): \(error?.message ?? "accepted")")
        }
    }

    @Test("GrantAwarded records the members at the award")
    func awardRecordsMembers() async throws {
        let history = try await baseHistory()
        guard case .grantAwarded(let award)? = history.log.last else {
            Issue.record("last event is not GrantAwarded")
            return
        }
        #expect(award.members.map(\.organisationId) == ["LEAD", "S1"])
        #expect(award.callId == "C1")
        #expect(award.consortiumId == "K1")
    }

    @Test("an organisation that becomes unregistered loses its BIN")
    func losesBIN() async throws {
        var history = try await baseHistory()
        try await history.execute(
            try CommandRequest.parse(
                command("updateOrganisationProfile", ["organisationId": "LEAD", "registrationStatus": "unregistered"])
            ).command)
        let profile = try await history.organisation("LEAD")
        #expect(profile?.bin == nil)
        #expect(profile?.registrationStatus == .unregistered)
    }
}

@Suite("Command parsing and §5 invalid errors")
struct ParsingTests {
    @Test(
        "malformed input is invalid and the message names the field",
        arguments: [
            ("{not json", "malformed"),
            ("[1,2]", "JSON object"),
            (#"{"command":"launchRocket"}"#, "launchRocket"),
            (#"{"command":"closeCall","callId":"C1"}"#, "closedOn"),
            (#"{"command":"closeCall","callId":"C1","closedOn":"2025-02-30"}"#, "closedOn"),
            (#"{"command":"closeCall","callId":"C1","closedOn":"2025-02-01","colour":"red"}"#, "colour"),
            (#"{"command":"closeCall","callId":"bad id","closedOn":"2025-02-01"}"#, "callId"),
            (#"{"command":"closeCall","callId":1,"closedOn":"2025-02-01"}"#, "callId"),
            (#"{"command":"disburseGrant","grantId":"G","amount":100.5,"paidOn":"2025-02-01"}"#, "amount"),
            (#"{"command":"disburseGrant","grantId":"G","amount":"100.555","paidOn":"2025-02-01"}"#, "100.555"),
            (#"{"command":"closeCall","commandId":"","callId":"C1","closedOn":"2025-02-01"}"#, "commandId"),
            (#"{"command":"setReportingRules","smallMaxAnnualBudgetEur":"1","smallMaxStaff":true}"#, "smallMaxStaff"),
        ])
    func invalid(_ text: String, _ mention: String) {
        do {
            _ = try CommandRequest.parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.code == .invalid)
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }

    @Test("the payload digest ignores key order and spacing")
    func canonicalPayload() throws {
        let a = try CommandRequest.parse(#"{"command":"closeCall","callId":"C1","closedOn":"2025-02-01"}"#)
        let b = try CommandRequest.parse(
            #"{ "closedOn": "2025-02-01", "callId": "C1", "command": "closeCall", "commandId": "x" }"#)
        #expect(a.command.canonicalPayload == b.command.canonicalPayload)
        #expect(b.commandId == "x")
    }

    @Test("events round-trip through their JSON data")
    func eventRoundTrip() async throws {
        let history = try await baseHistory()
        for event in history.log {
            let decoded = try DomainEvent.decode(type: event.type, data: event.dataJSON)
            #expect(decoded == event)
        }
    }
}
