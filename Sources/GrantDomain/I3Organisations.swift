/// The first qualifying access of a counted organisation (docs/domain.md §8).
public struct I3FirstAccess: Sendable, Hashable, Codable {
    public var channel: AccessChannel
    public var businessDate: BusinessDate
    public var position: Int64
    public var callId: String
    public var grantId: String
    /// Present only for the sub-grant channel.
    public var subGrantId: String?

    public init(
        channel: AccessChannel, businessDate: BusinessDate, position: Int64, callId: String, grantId: String,
        subGrantId: String?
    ) {
        self.channel = channel
        self.businessDate = businessDate
        self.position = position
        self.callId = callId
        self.grantId = grantId
        self.subGrantId = subGrantId
    }
}

/// The four dimensions of an I.3 cell, without its count: where one organisation is counted.
public struct I3Place: Sendable, Hashable, Codable, Comparable {
    public var regionCode: String
    public var leadershipGender: LeadershipGender
    public var settlement: Settlement
    public var registrationStatus: RegistrationStatus

    public init(
        regionCode: String, leadershipGender: LeadershipGender, settlement: Settlement,
        registrationStatus: RegistrationStatus
    ) {
        self.regionCode = regionCode
        self.leadershipGender = leadershipGender
        self.settlement = settlement
        self.registrationStatus = registrationStatus
    }

    /// The order of `cells` (docs/domain.md §4): region, leadership gender, settlement,
    /// registration status.
    public static func < (a: I3Place, b: I3Place) -> Bool {
        (a.regionCode, a.leadershipGender.rawValue, a.settlement.rawValue, a.registrationStatus.rawValue)
            < (b.regionCode, b.leadershipGender.rawValue, b.settlement.rawValue, b.registrationStatus.rawValue)
    }
}

/// One counted organisation (docs/domain.md §8), described by its first qualifying access:
/// `name` and the dimensions are the snapshot taken there.
public struct I3OrganisationRow: Sendable, Hashable, Codable {
    public var organisationId: String
    public var name: String
    public var place: I3Place
    /// The channels of all its qualifying accesses, `consortium` before `subGrant`.
    public var channels: [AccessChannel]
    public var firstAccess: I3FirstAccess

    public init(
        organisationId: String, name: String, place: I3Place, channels: [AccessChannel], firstAccess: I3FirstAccess
    ) {
        self.organisationId = organisationId
        self.name = name
        self.place = place
        self.channels = channels
        self.firstAccess = firstAccess
    }

    enum CodingKeys: String, CodingKey {
        case organisationId, name, regionCode, leadershipGender, settlement, registrationStatus, channels, firstAccess
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        organisationId = try c.decode(String.self, forKey: .organisationId)
        name = try c.decode(String.self, forKey: .name)
        place = try I3Place(from: decoder)
        channels = try c.decode([AccessChannel].self, forKey: .channels)
        firstAccess = try c.decode(I3FirstAccess.self, forKey: .firstAccess)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(organisationId, forKey: .organisationId)
        try c.encode(name, forKey: .name)
        try place.encode(to: encoder)
        try c.encode(channels, forKey: .channels)
        try c.encode(firstAccess, forKey: .firstAccess)
    }

    /// The order of docs/domain.md §8: like `cells`, then by organisation id.
    public static func ordered(_ a: I3OrganisationRow, _ b: I3OrganisationRow) -> Bool {
        a.place != b.place ? a.place < b.place : a.organisationId < b.organisationId
    }
}

/// The optional row filters of docs/domain.md §8: the four dimensions select the rows of
/// one cell or margin, `channel` the organisations with a qualifying access through it.
public struct I3RowFilter: Sendable, Hashable {
    public var regionCode: String?
    public var leadershipGender: LeadershipGender?
    public var settlement: Settlement?
    public var registrationStatus: RegistrationStatus?
    public var channel: AccessChannel?

    public init(
        regionCode: String? = nil, leadershipGender: LeadershipGender? = nil, settlement: Settlement? = nil,
        registrationStatus: RegistrationStatus? = nil, channel: AccessChannel? = nil
    ) {
        self.regionCode = regionCode
        self.leadershipGender = leadershipGender
        self.settlement = settlement
        self.registrationStatus = registrationStatus
        self.channel = channel
    }

    public func admits(_ row: I3OrganisationRow) -> Bool {
        (regionCode.map { $0 == row.place.regionCode } ?? true)
            && (leadershipGender.map { $0 == row.place.leadershipGender } ?? true)
            && (settlement.map { $0 == row.place.settlement } ?? true)
            && (registrationStatus.map { $0 == row.place.registrationStatus } ?? true)
            && (channel.map { row.channels.contains($0) } ?? true)
    }
}

extension I3Figures {
    /// The figures the rows add up to: one organisation per row, in the cell of its place.
    public init(rules: ReportingRules, rows: [I3OrganisationRow]) {
        var counts: [I3Place: Int] = [:]
        var channels: [AccessChannel: Int] = [:]
        for row in rows {
            counts[row.place, default: 0] += 1
            for channel in row.channels { channels[channel, default: 0] += 1 }
        }
        self.init(
            rules: rules,
            byChannel: Dictionary(uniqueKeysWithValues: AccessChannel.allCases.map { ($0, channels[$0] ?? 0) }),
            cells: counts.map { place, count in
                I3Cell(
                    leadershipGender: place.leadershipGender, regionCode: place.regionCode,
                    settlement: place.settlement, registrationStatus: place.registrationStatus, count: count)
            })
    }
}

// The drill-down's rows write their members straight into bytes (`CanonicalObject`): a cell
// lists thousands of them, and building each as a tree first was a quarter of the answer's
// time (docs/performance.md, "The drill-down's rows written directly"). `JSONCodingTests`
// holds them to their `Encodable` bytes and Foundation's.
extension I3FirstAccess: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("businessDate", businessDate)
        try writer.member("callId", callId)
        try writer.member("channel", channel)
        try writer.member("grantId", grantId)
        try writer.member("position", position)
        try writer.optionalMember("subGrantId", subGrantId)
    }
}

extension I3OrganisationRow: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("channels", channels)
        try writer.member("firstAccess", firstAccess)
        try writer.member("leadershipGender", place.leadershipGender)
        try writer.member("name", name)
        try writer.member("organisationId", organisationId)
        try writer.member("regionCode", place.regionCode)
        try writer.member("registrationStatus", place.registrationStatus)
        try writer.member("settlement", place.settlement)
    }
}
