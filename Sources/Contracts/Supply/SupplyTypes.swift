public import LedgerCore

/// The status of a serialized unit. Stored statuses are active, shipped, suspect, dispensed and
/// decommissioned; `recalled` (its lot is recalled) and `expired` (expiry ≤ the time asked about)
/// are effective statuses computed on read, so a recall or an expiry never iterates units.
public enum UnitStatus: String, Sendable, CaseIterable, Codable {
    case active, shipped, suspect, dispensed, decommissioned, recalled, expired
}

/// What happened to a unit, in its custody history.
public enum CustodyEventKind: String, Sendable, CaseIterable, Codable {
    case commissioned, packed, unpacked, shipped, received, quarantined, flagged, cleared, decommissioned, dispensed
}

/// Why a manufacturer or regulator recalls a lot.
public enum RecallReason: String, Sendable, CaseIterable {
    case contamination, mislabeling, potency, packaging, counterfeit, regulatory, other
}

/// Why a unit is quarantined as suspect product (DSCSA suspect-product categories).
public enum QuarantineReason: String, Sendable, CaseIterable {
    case suspectCounterfeit = "suspect-counterfeit", suspectDiverted = "suspect-diverted", stolen
    case adulterated, unfitForDistribution = "unfit-for-distribution", fraudulentTransaction = "fraudulent-transaction", other
}

/// Why a unit leaves the supply chain without being dispensed.
public enum DecommissionReason: String, Sendable, CaseIterable {
    case destroyed, damaged, sample, stolen, expired, recalled, other
}

/// The answer to a DSCSA verification request. Everything but `genuine` is an incident.
public enum VerificationVerdict: String, Sendable, CaseIterable, Codable {
    /// Known serial, matching lot and expiry, active or in transit, not recalled, suspect or expired.
    case genuine
    /// No such serial was ever commissioned: possible counterfeit.
    case unknownSerial = "unknown-serial"
    /// The lot printed on the pack is not the commissioned lot.
    case lotMismatch = "lot-mismatch"
    /// The expiry printed on the pack is not the commissioned expiry.
    case expiryMismatch = "expiry-mismatch"
    /// Already dispensed: a re-presented (possibly diverted or reused) serial.
    case dispensed
    /// Decommissioned (destroyed, sample, …): a re-presented serial.
    case decommissioned
    /// Its lot is recalled.
    case recalled
    /// It is quarantined as suspect.
    case suspect
    /// Past its expiry.
    case expired
}

/// One entry of a unit's custody history.
public struct CustodyEvent: Sendable, Equatable, Codable {
    public var kind: CustodyEventKind
    /// The organization the unit came from or that acted.
    public var from: IdentityID?
    /// The organization the unit went to.
    public var to: IdentityID?
    /// A reason code, SSCC or prescription id; never PHI.
    public var detail: String?
    public var height: UInt64
    public var timeMs: Int64

    public init(kind: CustodyEventKind, from: IdentityID?, to: IdentityID?, detail: String? = nil, height: UInt64, timeMs: Int64) {
        (self.kind, self.from, self.to, self.detail, self.height, self.timeMs) = (kind, from, to, detail, height, timeMs)
    }
}

/// A registered product (GTIN) and its manufacturer. The label is a non-PHI trade name.
public struct SupplyProduct: Sendable, Equatable, StoredValue {
    /// From the state key.
    public var gtin: String = ""
    public var manufacturer: IdentityID
    public var label: String
    public var height: UInt64
    public var timeMs: Int64

    enum CodingKeys: String, CodingKey {
        case manufacturer, label, height, timeMs
    }
}

/// A lot recall: who recalled it, why, and when.
public struct LotRecall: Sendable, Equatable, Codable {
    /// The signer of the recall.
    public var by: IdentityID
    /// The organization that recalled (the manufacturer or a regulator).
    public var organization: IdentityID
    public var reason: RecallReason
    public var height: UInt64
    public var timeMs: Int64
}

/// A lot of one product: its expiry, how many units were commissioned in it, and its recall.
public struct SupplyLot: Sendable, Equatable, StoredValue {
    /// From the state key.
    public var gtin: String = ""
    /// From the state key.
    public var lot: String = ""
    public var expiryMs: Int64
    public var unitCount: Int64
    public var recall: LotRecall?

    enum CodingKeys: String, CodingKey {
        case expiryMs, unitCount, recall
    }
}

/// A serialized unit as stored: identity, lot, owner, stored status, case, transit and custody history.
public struct SupplyUnit: Sendable, Equatable, StoredValue {
    /// From the state key.
    public var sgtin = SGTIN(gtin: "", serial: "")
    public var lot: String
    public var expiryMs: Int64
    /// The product's manufacturer, who commissioned the unit.
    public var manufacturer: IdentityID
    /// The organization that owns the unit (the shipper, until the recipient receives it).
    public var owner: IdentityID
    /// Stored status: active, shipped, suspect, dispensed or decommissioned.
    public var status: UnitStatus
    /// SSCC of the case the unit is packed in.
    public var caseSSCC: String?
    /// While in transit: the organization that must receive it, and the one that shipped it.
    public var pendingRecipient: IdentityID?
    public var shipper: IdentityID?
    /// Oldest first, at most `SupplyChainContract.custodyEventsMax` events.
    public var custody: [CustodyEvent]

    enum CodingKeys: String, CodingKey {
        case lot, expiryMs, manufacturer, owner, status, caseSSCC = "case", pendingRecipient, shipper, custody
    }

    /// The effective status at `atMs`: dispensed and decommissioned are final; otherwise a recalled
    /// lot, then a suspect mark, then expiry (expiry ≤ atMs) override the stored status.
    public func effectiveStatus(lotRecalled: Bool, atMs: Int64) -> UnitStatus {
        switch status {
        case .dispensed, .decommissioned: return status
        default: break
        }
        if lotRecalled { return .recalled }
        if status == .suspect { return .suspect }
        if expiryMs <= atMs { return .expired }
        return status
    }
}

/// A case's state: packed and at its owner, in transit, or unpacked (the SSCC is then spent).
public enum CaseStatus: String, Sendable, CaseIterable, Codable {
    case active, shipped, unpacked
}

/// A case (logistic unit, SSCC) holding serialized units.
public struct SupplyCase: Sendable, Equatable, StoredValue {
    /// From the state key.
    public var sscc: String = ""
    public var owner: IdentityID
    public var status: CaseStatus
    public var pendingRecipient: IdentityID?
    public var shipper: IdentityID?
    /// The units packed in it (empty once unpacked), sorted.
    public var units: [SGTIN]
    public var packedHeight: UInt64

    enum CodingKeys: String, CodingKey {
        case owner, status, pendingRecipient, shipper, units, packedHeight
    }
}

/// A recorded verification request and its verdict; a verdict other than genuine is an incident.
/// Its id is the verify transaction's id.
public struct VerificationRecord: Sendable, Equatable, StoredValue {
    /// From the state key.
    public var id: Hash256 = .zero
    /// The identity that signed the request.
    public var requester: IdentityID
    /// The organization it acted for (the reporter the incident index is keyed by).
    public var organization: IdentityID
    public var sgtin: SGTIN
    /// Lot and expiry as printed on the pack, when given.
    public var lot: String?
    public var expiryMs: Int64?
    public var verdict: VerificationVerdict
    /// True when the verification marked the unit suspect.
    public var markedSuspect: Bool
    public var height: UInt64
    public var timeMs: Int64

    /// True for every verdict but genuine.
    public var isIncident: Bool { verdict != .genuine }

    enum CodingKeys: String, CodingKey {
        case requester, organization, sgtin, lot, expiryMs, verdict, markedSuspect, height, timeMs
    }
}

/// Everything the ledger knows about one serial, as of a given time: the answer to "is this pack
/// genuine and in good standing, and where has it been".
public struct SerialVerification: Sendable, Equatable {
    /// False when the serial was never commissioned (possible counterfeit).
    public var known: Bool
    public var sgtin: SGTIN
    public var lot: String?
    public var expiryMs: Int64?
    public var manufacturer: IdentityID?
    public var owner: IdentityID?
    /// The effective status at the time asked about (recalled and expired included).
    public var status: UnitStatus?
    /// The status as stored (no recall or expiry applied).
    public var storedStatus: UnitStatus?
    public var caseSSCC: String?
    public var pendingRecipient: IdentityID?
    public var recall: LotRecall?
    /// Custody history, oldest first.
    public var custody: [CustodyEvent]
    /// Incident ids (verify transaction ids) for this serial, oldest first, at most `incidentsPerSerialIndexedMax`.
    public var incidents: [Hash256]
    /// Every incident ever recorded for this serial (may exceed `incidents.count`).
    public var incidentCount: Int64

    /// True when the unit is known, active or in transit, and not recalled, suspect or expired.
    public var isInGoodStanding: Bool { known && (status == .active || status == .shipped) }
}

/// The incident index of one serial: how many incidents were recorded, and the ids of the first
/// `SupplyChainContract.incidentsPerSerialIndexedMax`, oldest first.
struct SerialIncidents: Sendable, Equatable, StoredValue {
    var count: Int64
    var ids: [Hash256]
}

// MARK: Hand-written writer (every ship, receive, verify and dispense writes a unit)

// Entries in canonical key order (UTF-8 bytes of the `CodingKeys` strings), optionals only when
// set, exactly as `CanonicalEncoder` writes them; `HandWrittenStoredValueTests` compares the bytes.

extension SupplyUnit: HandWrittenStoredValue {
    func writeCanonical(to writer: inout CanonicalWriter) -> Bool {
        writer.writeMapHeader(count: 6 + (caseSSCC == nil ? 0 : 1) + (pendingRecipient == nil ? 0 : 1) + (shipper == nil ? 0 : 1))
        if let caseSSCC { writer.writeMapKey(CodingKeys.caseSSCC); writer.write(string: caseSSCC) }
        writer.writeMapKey(CodingKeys.custody)
        writer.writeListHeader(count: custody.count)
        for event in custody { guard event.writeCanonical(to: &writer) else { return false } }
        writer.writeMapKey(CodingKeys.expiryMs); writer.write(int: expiryMs)
        writer.writeMapKey(CodingKeys.lot); writer.write(string: lot)
        writer.writeMapKey(CodingKeys.manufacturer); writer.write(hash: manufacturer)
        writer.writeMapKey(CodingKeys.owner); writer.write(hash: owner)
        if let pendingRecipient { writer.writeMapKey(CodingKeys.pendingRecipient); writer.write(hash: pendingRecipient) }
        if let shipper { writer.writeMapKey(CodingKeys.shipper); writer.write(hash: shipper) }
        writer.writeMapKey(CodingKeys.status); writer.write(string: status.rawValue)
        return true
    }
}

extension CustodyEvent {
    /// False where `height` is above `Int64.max` (the `Codable` path then refuses it).
    func writeCanonical(to writer: inout CanonicalWriter) -> Bool {
        writer.writeMapHeader(count: 3 + (detail == nil ? 0 : 1) + (from == nil ? 0 : 1) + (to == nil ? 0 : 1))
        if let detail { writer.writeMapKey("detail"); writer.write(string: detail) }
        if let from { writer.writeMapKey("from"); writer.write(hash: from) }
        writer.writeMapKey("height")
        guard writer.write(exactly: height) else { return false }
        writer.writeMapKey("kind"); writer.write(string: kind.rawValue)
        writer.writeMapKey("timeMs"); writer.write(int: timeMs)
        if let to { writer.writeMapKey("to"); writer.write(hash: to) }
        return true
    }
}
