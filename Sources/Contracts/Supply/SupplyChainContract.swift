public import LedgerCore

/// Drug supply chain (DSCSA-style): manufacturers register products (GTIN) and commission
/// serialized units (SGTIN) in lots; owners pack units into cases (SSCC), ship them to another
/// organization, which receives them (ownership moves); manufacturers or regulators recall lots;
/// suspect product is quarantined and cleared; units leave the chain dispensed (see
/// `PrescriptionContract`) or decommissioned. Any party verifies a pack; a verification that is not
/// "genuine and in good standing" records an incident. Every unit keeps a bounded custody history.
public struct SupplyChainContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

    /// Longest product label (a trade name, never PHI), in bytes.
    public static let productLabelBytesMax = 64
    /// Most serials commissioned by one call (all or none).
    public static let serialsPerCommissionMax = 200
    /// Most units packed in one case.
    public static let unitsPerCaseMax = 200
    /// Most items (units and cases together) named by one ship, receive, quarantine, clear or decommission call.
    public static let itemsPerCallMax = 200
    /// Most units one call touches, counting the units inside shipped or received cases.
    public static let unitsPerCallMax = 2_000
    /// Most custody events kept per unit.
    public static let custodyEventsMax = 64
    /// Custody events kept free so a unit whose ordinary history (ship, pack, quarantine, clear) is
    /// full can still be received (if in transit), flagged, unpacked, dispensed or decommissioned.
    public static let custodyEventsReserved = 4
    /// Most incident ids kept per serial (later incidents still count and stay readable by id and reporter).
    public static let incidentsPerSerialIndexedMax = 64
    /// Most incidents indexed per reporting organization (later ones still count and stay readable by id).
    public static let incidentsPerReporterIndexedMax: Int64 = 1_000_000
    /// Most incidents one read helper call returns.
    public static let incidentsReadMax = 256

    public init() {}

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .registerProduct: try registerProduct(call, try RegisterProduct(call), &state)
        case .commission: try commission(call, try Commission(call), &state)
        case .aggregate: try aggregate(call, try Aggregate(call), &state)
        case .disaggregate: try disaggregate(call, try Disaggregate(call), &state)
        case .ship: try ship(call, try Ship(call), &state)
        case .receive: try receive(call, try Receive(call), &state)
        case .recall: try recall(call, try Recall(call), &state)
        case .quarantine: try quarantine(call, try Quarantine(call), &state)
        case .clear: try clear(call, try Clear(call), &state)
        case .decommission: try decommission(call, try Decommission(call), &state)
        case .verify: try verify(call, try Verify(call), &state)
        }
    }

    // MARK: products and commissioning

    /// A manufacturer registers a product under a GTIN-14; it becomes the product's owner.
    private func registerProduct(_ call: ContractCall, _ args: RegisterProduct, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: [.manufacturer], code: .notManufacturer)
        let (gtin, label) = (args.gtin, args.label)
        guard state.get(SupplyStore.productKey(gtin)) == nil else {
            throw Rejection(.productAlreadyRegistered, "product \(gtin) is already registered")
        }
        let product = SupplyProduct(gtin: gtin, manufacturer: actor.organization, label: label, height: call.height, timeMs: call.timeMs)
        try state.set(SupplyStore.productKey(gtin), product)
    }

    /// The product's manufacturer commissions serialized units in a lot (all or none).
    private func commission(_ call: ContractCall, _ args: Commission, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: [.manufacturer], code: .notManufacturer)
        let gtin = args.gtin
        guard let product = SupplyStore.product(gtin, { state.get($0) }) else { throw Rejection(.unknownProduct, "no product \(gtin)") }
        guard product.manufacturer == actor.organization else {
            throw Rejection(.notManufacturer, "only the manufacturer \(product.manufacturer.hex) commissions \(gtin)")
        }
        let (lotNumber, expiryMs, serials) = (args.lot, args.expiryMs, args.serials)
        guard expiryMs > call.timeMs else { throw Rejection(.expiryNotInFuture, "expiry \(expiryMs) is not after block time \(call.timeMs)") }
        var lot = SupplyStore.lot(gtin, lotNumber, { state.get($0) })
            ?? SupplyLot(gtin: gtin, lot: lotNumber, expiryMs: expiryMs, unitCount: 0, recall: nil)
        guard lot.expiryMs == expiryMs else {
            throw Rejection(.lotExpiryConflict, "lot \(lotNumber) of \(gtin) expires at \(lot.expiryMs), not \(expiryMs)")
        }
        guard lot.recall == nil else { throw Rejection(.lotRecalled, "lot \(lotNumber) of \(gtin) is recalled") }
        var seen = Set<String>()
        for serial in serials {
            let sgtin = SGTIN(gtin: gtin, serial: serial)
            guard seen.insert(serial).inserted else { throw Rejection(.serialAlreadyCommissioned, "serial \(sgtin) is listed twice") }
            guard state.get(SupplyStore.unitKey(sgtin)) == nil else {
                throw Rejection(.serialAlreadyCommissioned, "serial \(sgtin) is already commissioned")
            }
            let event = CustodyEvent(kind: .commissioned, from: nil, to: actor.organization, detail: lotNumber, height: call.height, timeMs: call.timeMs)
            let unit = SupplyUnit(sgtin: sgtin, lot: lotNumber, expiryMs: expiryMs, manufacturer: actor.organization,
                                  owner: actor.organization, status: .active, custody: [event])
            try SupplyStore.store(unit, &state)
        }
        lot.unitCount += Int64(serials.count)
        try SupplyStore.store(lot, &state)
    }

    // MARK: cases

    /// The owner packs loose active units it owns into a new case.
    private func aggregate(_ call: ContractCall, _ args: Aggregate, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.holderTypes)
        let (sscc, sgtins) = (args.sscc, args.units)
        guard state.get(SupplyStore.caseKey(sscc)) == nil else { throw Rejection(.caseAlreadyExists, "case \(sscc) was already packed") }
        var memo: [String: Bool] = [:]
        var packed: [SupplyUnit] = []
        for sgtin in sgtins {
            var unit = try SupplyStore.requireUnit(sgtin, state)
            guard unit.owner == actor.organization else { throw Rejection(.notOwner, "unit \(sgtin) is not owned by \(actor.organization.hex)") }
            try SupplyStore.requireActive(unit, state, atMs: call.timeMs, memo: &memo)
            unit.caseSSCC = sscc
            try SupplyStore.append(CustodyEvent(kind: .packed, from: actor.organization, to: nil, detail: sscc, height: call.height,
                                                timeMs: call.timeMs), to: &unit)
            packed.append(unit)
        }
        for unit in packed { try SupplyStore.store(unit, &state) }
        let packedCase = SupplyCase(sscc: sscc, owner: actor.organization, status: .active, units: sgtins.sorted(), packedHeight: call.height)
        try SupplyStore.store(packedCase, &state)
    }

    /// The owner unpacks a case it holds; the units become loose. The SSCC is spent.
    private func disaggregate(_ call: ContractCall, _ args: Disaggregate, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.holderTypes)
        var shippingCase = try Self.requireCase(args.sscc, state)
        guard shippingCase.owner == actor.organization else {
            throw Rejection(.notOwner, "case \(shippingCase.sscc) is not owned by \(actor.organization.hex)")
        }
        guard shippingCase.status == .active else { throw Rejection(.unitInTransit, "case \(shippingCase.sscc) is in transit") }
        for sgtin in shippingCase.units {
            var unit = try SupplyStore.requireUnit(sgtin, state)
            unit.caseSSCC = nil
            try SupplyStore.append(CustodyEvent(kind: .unpacked, from: actor.organization, to: nil, detail: shippingCase.sscc,
                                                height: call.height, timeMs: call.timeMs), to: &unit, final: true)
            try SupplyStore.store(unit, &state)
        }
        shippingCase.status = .unpacked
        shippingCase.units = []
        try SupplyStore.store(shippingCase, &state)
    }

    // MARK: shipping

    /// The owner ships units and cases to another holder organization; ownership moves on receipt.
    private func ship(_ call: ContractCall, _ args: Ship, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.holderTypes)
        let to = args.to
        guard let recipient = Directory.identity(to, in: state), recipient.kind == .organization, !recipient.revoked,
              let type = recipient.organizationType, SupplyStore.holderTypes.contains(type) else {
            throw Rejection(.invalidRecipient, "\(to.hex) is not an active manufacturer, distributor, pharmacy or hospital")
        }
        guard to != actor.organization else { throw Rejection(.invalidRecipient, "an organization does not ship to itself") }
        let (sgtins, ssccs) = (args.units ?? [], args.cases ?? [])
        var memo: [String: Bool] = [:]
        var touched = 0
        for sgtin in sgtins {
            var unit = try SupplyStore.requireUnit(sgtin, state)
            guard unit.owner == actor.organization else { throw Rejection(.notOwner, "unit \(sgtin) is not owned by \(actor.organization.hex)") }
            try SupplyStore.requireActive(unit, state, atMs: call.timeMs, memo: &memo)
            try Self.markShipped(&unit, actor.organization, to, call)
            try SupplyStore.store(unit, &state)
            touched += 1
        }
        for sscc in ssccs {
            var shippingCase = try Self.requireCase(sscc, state)
            guard shippingCase.owner == actor.organization else {
                throw Rejection(.notOwner, "case \(sscc) is not owned by \(actor.organization.hex)")
            }
            guard shippingCase.status == .active else { throw Rejection(.unitInTransit, "case \(sscc) is in transit") }
            touched += shippingCase.units.count
            guard touched <= Self.unitsPerCallMax else { throw Rejection(.tooManyUnits, "a call touches at most \(Self.unitsPerCallMax) units") }
            for sgtin in shippingCase.units {
                var unit = try SupplyStore.requireUnit(sgtin, state)
                try SupplyStore.requireActive(unit, state, atMs: call.timeMs, memo: &memo, allowCase: true)
                try Self.markShipped(&unit, actor.organization, to, call)
                try SupplyStore.store(unit, &state)
            }
            shippingCase.status = .shipped
            shippingCase.pendingRecipient = to
            shippingCase.shipper = actor.organization
            try SupplyStore.store(shippingCase, &state)
        }
    }

    /// Only the pending recipient receives, naming the shipper as `from`; ownership moves to it.
    private func receive(_ call: ContractCall, _ args: Receive, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.holderTypes)
        let (from, sgtins, ssccs) = (args.from, args.units ?? [], args.cases ?? [])
        var touched = 0
        for sgtin in sgtins {
            var unit = try SupplyStore.requireUnit(sgtin, state)
            if let sscc = unit.caseSSCC { throw Rejection(.unitInCase, "unit \(sgtin) is packed in case \(sscc); receive the case") }
            try Self.checkPending(unit.pendingRecipient, unit.shipper, "unit \(sgtin)", actor: actor.organization, from: from)
            try Self.markReceived(&unit, actor.organization, call)
            try SupplyStore.store(unit, &state)
            touched += 1
        }
        for sscc in ssccs {
            var shippingCase = try Self.requireCase(sscc, state)
            try Self.checkPending(shippingCase.pendingRecipient, shippingCase.shipper, "case \(sscc)", actor: actor.organization, from: from)
            touched += shippingCase.units.count
            guard touched <= Self.unitsPerCallMax else { throw Rejection(.tooManyUnits, "a call touches at most \(Self.unitsPerCallMax) units") }
            for sgtin in shippingCase.units {
                var unit = try SupplyStore.requireUnit(sgtin, state)
                try Self.markReceived(&unit, actor.organization, call)
                try SupplyStore.store(unit, &state)
            }
            shippingCase.owner = actor.organization
            shippingCase.status = .active
            shippingCase.pendingRecipient = nil
            shippingCase.shipper = nil
            try SupplyStore.store(shippingCase, &state)
        }
    }

    // MARK: recall, quarantine, clear, decommission

    /// The product's manufacturer or a regulator recalls a lot; every unit of it is recalled
    /// through its lot (no unit is rewritten).
    private func recall(_ call: ContractCall, _ args: Recall, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: [.manufacturer, .regulator], code: .notManufacturer)
        let (gtin, lotNumber, reason) = (args.gtin, args.lot, args.reason)
        guard let product = SupplyStore.product(gtin, { state.get($0) }) else { throw Rejection(.unknownProduct, "no product \(gtin)") }
        guard actor.type == .regulator || product.manufacturer == actor.organization else {
            throw Rejection(.notManufacturer, "only the manufacturer of \(gtin) or a regulator recalls its lots")
        }
        guard var lot = SupplyStore.lot(gtin, lotNumber, { state.get($0) }) else {
            throw Rejection(.unknownLot, "no unit of \(gtin) was commissioned in lot \(lotNumber)")
        }
        guard lot.recall == nil else { throw Rejection(.lotRecalled, "lot \(lotNumber) of \(gtin) is already recalled") }
        lot.recall = LotRecall(by: actor.sender.id, organization: actor.organization, reason: reason, height: call.height, timeMs: call.timeMs)
        try SupplyStore.store(lot, &state)
    }

    /// The current owner or a regulator quarantines units as suspect product.
    private func quarantine(_ call: ContractCall, _ args: Quarantine, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.partyTypes)
        let (reason, sgtins) = (args.reason, args.units)
        var updated: [SupplyUnit] = []
        for sgtin in sgtins {
            var unit = try SupplyStore.requireUnit(sgtin, state)
            guard actor.type == .regulator || unit.owner == actor.organization else {
                throw Rejection(.notOwner, "only the owner of \(sgtin) or a regulator quarantines it")
            }
            switch unit.status {
            case .dispensed, .decommissioned, .suspect: try SupplyStore.requireStatus(unit.status, sgtin)
            default: break
            }
            unit.status = .suspect
            try SupplyStore.append(CustodyEvent(kind: .quarantined, from: actor.organization, to: nil, detail: reason.rawValue,
                                                height: call.height, timeMs: call.timeMs), to: &unit)
            updated.append(unit)
        }
        for unit in updated { try SupplyStore.store(unit, &state) }
    }

    /// A regulator, or the manufacturer after investigation, clears suspect units (back to active, or
    /// back in transit when they were quarantined while shipped).
    private func clear(_ call: ContractCall, _ args: Clear, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: [.manufacturer, .regulator], code: .notManufacturer)
        let sgtins = args.units
        var updated: [SupplyUnit] = []
        for sgtin in sgtins {
            var unit = try SupplyStore.requireUnit(sgtin, state)
            guard actor.type == .regulator || unit.manufacturer == actor.organization else {
                throw Rejection(.notManufacturer, "only the manufacturer of \(sgtin) or a regulator clears it")
            }
            guard unit.status == .suspect else { throw Rejection(.unitNotSuspect, "unit \(sgtin) is \(unit.status.rawValue), not suspect") }
            unit.status = unit.pendingRecipient == nil ? .active : .shipped
            try SupplyStore.append(CustodyEvent(kind: .cleared, from: actor.organization, to: nil, height: call.height, timeMs: call.timeMs),
                                   to: &unit)
            updated.append(unit)
        }
        for unit in updated { try SupplyStore.store(unit, &state) }
    }

    /// The owner takes loose units it holds out of the chain (destroyed, damaged, sample, …).
    private func decommission(_ call: ContractCall, _ args: Decommission, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.holderTypes)
        let (reason, sgtins) = (args.reason, args.units)
        var updated: [SupplyUnit] = []
        for sgtin in sgtins {
            var unit = try SupplyStore.requireUnit(sgtin, state)
            guard unit.owner == actor.organization else { throw Rejection(.notOwner, "unit \(sgtin) is not owned by \(actor.organization.hex)") }
            if let sscc = unit.caseSSCC { throw Rejection(.unitInCase, "unit \(sgtin) is packed in case \(sscc); unpack it first") }
            if unit.status == .dispensed || unit.status == .decommissioned { try SupplyStore.requireStatus(unit.status, sgtin) }
            guard unit.pendingRecipient == nil else { throw Rejection(.unitInTransit, "unit \(sgtin) is in transit") }
            unit.status = .decommissioned
            try SupplyStore.append(CustodyEvent(kind: .decommissioned, from: actor.organization, to: nil, detail: reason.rawValue,
                                                height: call.height, timeMs: call.timeMs), to: &unit, final: true)
            updated.append(unit)
        }
        for unit in updated { try SupplyStore.store(unit, &state) }
    }

    // MARK: verification

    /// The verdict on a pack: `known` is the commissioned unit's lot, expiry and effective status
    /// at the time asked about (nil: never commissioned), `printedLot` and `printedExpiry` what the
    /// pack says (nil: not given). One rule for `supply.verify` and the read models that show it.
    public static func verdict(_ known: (lot: String, expiryMs: Int64, status: UnitStatus)?, printedLot: String?,
                               printedExpiry: Int64?) -> VerificationVerdict {
        guard let known else { return .unknownSerial }
        if known.status == .dispensed { return .dispensed }
        if known.status == .decommissioned { return .decommissioned }
        if let printedLot, printedLot != known.lot { return .lotMismatch }
        if let printedExpiry, printedExpiry != known.expiryMs { return .expiryMismatch }
        if known.status == .recalled { return .recalled }
        if known.status == .suspect { return .suspect }
        if known.status == .expired { return .expired }
        return .genuine
    }

    /// A DSCSA verification request by any supply party or pharmacist. Always accepted when well
    /// formed: it records the verdict under the transaction id; a verdict other than genuine is an
    /// incident, indexed by serial and by reporting organization, and marks an active or shipped
    /// unit suspect (except for plain expiry).
    private func verify(_ call: ContractCall, _ args: Verify, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.partyTypes)
        let (sgtin, printedLot, printedExpiry) = (args.sgtin, args.lot, args.expiryMs)

        var unit = SupplyStore.unit(sgtin, { state.get($0) })
        var memo: [String: Bool] = [:]
        var found: (lot: String, expiryMs: Int64, status: UnitStatus)?
        if let unit {
            found = (unit.lot, unit.expiryMs,
                     unit.effectiveStatus(lotRecalled: SupplyStore.isRecalled(sgtin.gtin, unit.lot, state, &memo), atMs: call.timeMs))
        }
        let verdict = Self.verdict(found, printedLot: printedLot, printedExpiry: printedExpiry)
        var marked = false
        if verdict != .genuine, verdict != .expired, var known = unit, known.status == .active || known.status == .shipped {
            known.status = .suspect
            if known.custody.count < Self.custodyEventsMax {
                known.custody.append(CustodyEvent(kind: .flagged, from: actor.organization, to: nil, detail: verdict.rawValue,
                                                  height: call.height, timeMs: call.timeMs))
            }
            try SupplyStore.store(known, &state)
            unit = known
            marked = true
        }
        let id = call.transaction.id
        let record = VerificationRecord(id: id, requester: actor.sender.id, organization: actor.organization, sgtin: sgtin, lot: printedLot,
                                        expiryMs: printedExpiry, verdict: verdict, markedSuspect: marked, height: call.height, timeMs: call.timeMs)
        try state.set(SupplyStore.verificationKey(id), record)
        guard record.isIncident else { return }
        var incidents = SupplyStore.serialIncidents(sgtin, { state.get($0) })
        incidents.count += 1
        if incidents.ids.count < Self.incidentsPerSerialIndexedMax { incidents.ids.append(id) }
        try state.set(SupplyStore.serialIncidentsKey(sgtin), incidents)
        let reported = SupplyStore.reporterCount(actor.organization, { state.get($0) })
        if reported < Self.incidentsPerReporterIndexedMax {
            state.set(SupplyStore.reporterItemKey(actor.organization, reported), .bytes(id.bytes))
        }
        state.set(SupplyStore.reporterCountKey(actor.organization), .int(reported + 1))
    }

    // MARK: helpers

    private static func requireCase(_ sscc: String, _ state: StateView) throws(Rejection) -> SupplyCase {
        guard let found = SupplyStore.shippingCase(sscc, { state.get($0) }) else { throw Rejection(.unknownCase, "no case \(sscc)") }
        guard found.status != .unpacked else { throw Rejection(.caseUnpacked, "case \(sscc) was unpacked") }
        return found
    }

    private static func markShipped(_ unit: inout SupplyUnit, _ from: IdentityID, _ to: IdentityID, _ call: ContractCall) throws(Rejection) {
        unit.status = .shipped
        unit.pendingRecipient = to
        unit.shipper = from
        try SupplyStore.append(CustodyEvent(kind: .shipped, from: from, to: to, height: call.height, timeMs: call.timeMs), to: &unit)
    }

    private static func markReceived(_ unit: inout SupplyUnit, _ receiver: IdentityID, _ call: ContractCall) throws(Rejection) {
        let shipper = unit.shipper
        unit.owner = receiver
        if unit.status == .shipped { unit.status = .active }
        unit.pendingRecipient = nil
        unit.shipper = nil
        try SupplyStore.append(CustodyEvent(kind: .received, from: shipper, to: receiver, height: call.height, timeMs: call.timeMs),
                               to: &unit, final: true)
    }

    /// Receive-side checks: something is pending, for this receiver, from the named shipper.
    private static func checkPending(_ pending: IdentityID?, _ shipper: IdentityID?, _ what: String, actor: IdentityID,
                                     from: IdentityID) throws(Rejection) {
        guard let pending else { throw Rejection(.nothingToReceive, "\(what) was not shipped: nothing to receive") }
        guard pending == actor else { throw Rejection(.notPendingRecipient, "\(what) was shipped to another organization") }
        guard shipper == from else { throw Rejection(.notShipper, "\(what) was not shipped by \(from.hex)") }
    }

    // MARK: public read helpers

    /// A registered product.
    public static func product(_ gtin: String, in reader: any StateReader) -> SupplyProduct? {
        SupplyStore.product(gtin, { reader.value(for: $0) })
    }

    /// A lot: its expiry, unit count and recall.
    public static func lot(_ gtin: String, _ lot: String, in reader: any StateReader) -> SupplyLot? {
        SupplyStore.lot(gtin, lot, { reader.value(for: $0) })
    }

    /// Everything known about one serial, with its effective status at `atMs` (pass the block or
    /// current time: recall and expiry are applied on read). Unknown serials come back `known: false`.
    public static func unit(_ gtin: String, _ serial: String, atMs: Int64, in reader: any StateReader) -> SerialVerification {
        let get: SupplyStore.Lookup = { reader.value(for: $0) }
        let sgtin = SGTIN(gtin: gtin, serial: serial)
        let incidents = GS1.isGTIN(gtin) && GS1.isSerial(serial) ? SupplyStore.serialIncidents(sgtin, get) : SerialIncidents(count: 0, ids: [])
        guard GS1.isGTIN(gtin), GS1.isSerial(serial), let unit = SupplyStore.unit(sgtin, get) else {
            return SerialVerification(known: false, sgtin: sgtin, custody: [], incidents: incidents.ids, incidentCount: incidents.count)
        }
        let recall = SupplyStore.lot(gtin, unit.lot, get)?.recall
        return SerialVerification(known: true, sgtin: sgtin, lot: unit.lot, expiryMs: unit.expiryMs, manufacturer: unit.manufacturer,
                                  owner: unit.owner, status: unit.effectiveStatus(lotRecalled: recall != nil, atMs: atMs),
                                  storedStatus: unit.status, caseSSCC: unit.caseSSCC, pendingRecipient: unit.pendingRecipient,
                                  recall: recall, custody: unit.custody, incidents: incidents.ids, incidentCount: incidents.count)
    }

    /// A case (SSCC), packed, in transit or unpacked.
    public static func `case`(_ sscc: String, in reader: any StateReader) -> SupplyCase? {
        SupplyStore.shippingCase(sscc, { reader.value(for: $0) })
    }

    /// The verdict of a verify transaction, by its transaction id.
    public static func verification(_ id: Hash256, in reader: any StateReader) -> VerificationRecord? {
        SupplyStore.verification(id, { reader.value(for: $0) })
    }

    /// An incident (a verification whose verdict is not genuine), by its id.
    public static func incident(_ id: Hash256, in reader: any StateReader) -> VerificationRecord? {
        verification(id, in: reader).flatMap { $0.isIncident ? $0 : nil }
    }

    /// The incidents recorded for one serial, oldest first (at most `incidentsPerSerialIndexedMax`).
    public static func incidents(gtin: String, serial: String, in reader: any StateReader) -> [VerificationRecord] {
        let get: SupplyStore.Lookup = { reader.value(for: $0) }
        return SupplyStore.serialIncidents(SGTIN(gtin: gtin, serial: serial), get).ids.compactMap { SupplyStore.verification($0, get) }
    }

    /// How many incidents an organization reported.
    public static func incidentCount(reportedBy organization: IdentityID, in reader: any StateReader) -> Int64 {
        SupplyStore.reporterCount(organization, { reader.value(for: $0) })
    }

    /// A page of the incidents an organization reported, oldest first, from index `from`
    /// (at most `incidentsReadMax`).
    public static func incidents(reportedBy organization: IdentityID, from: Int64 = 0, limit: Int = incidentsReadMax,
                                 in reader: any StateReader) -> [VerificationRecord] {
        let get: SupplyStore.Lookup = { reader.value(for: $0) }
        let end = min(SupplyStore.reporterCount(organization, get), incidentsPerReporterIndexedMax,
                      max(0, from) + Int64(max(0, min(limit, incidentsReadMax))))
        guard max(0, from) < end else { return [] }
        return (max(0, from)..<end).compactMap { index in
            SupplyStore.reporterItem(organization, index, get).flatMap { SupplyStore.verification($0, get) }
        }
    }
}
