import LedgerCore

/// Stable, numbered outcomes of executing a transaction (TigerBeetle-style). Never renumber;
/// append new codes. 1–99 envelope, 100–199 membership, 200–299 anchor, 300–399 records,
/// 400–499 consent, 500–599 audit.
public enum ResultCode: UInt16, Sendable, CaseIterable {
    case accepted = 0
    case wrongChain = 1
    case sequenceReplayed = 2
    case sequenceGap = 3
    case expired = 4
    case unknownSender = 5
    case keyMismatch = 6
    case senderRevoked = 7
    case unknownContract = 8
    case unknownMethod = 9
    case badArguments = 10
    case unauthorized = 11
    case genesisOnly = 12
    case notAfterGenesis = 13

    case alreadyRegistered = 100
    case unknownIdentity = 101
    case unknownRole = 102
    case notOrganizationMember = 103
    case alreadyRevoked = 104
    case keyInUse = 105
    case unknownOrganizationType = 106

    case alreadyAnchored = 200

    case unknownRecord = 300
    case versionConflict = 301
    case recordErased = 302
    case unknownPatient = 303
    case unknownResourceType = 304
    case unknownCategory = 305
    /// Only the custodian's staff may move a record to another sensitivity category.
    case categoryChangeNotAllowed = 306

    case unknownConsent = 400
    case notPatientOrDelegate = 401
    case unknownGrantee = 402
    case consentAlreadyRevoked = 403
    case tooManyConsents = 404
    case badPeriod = 405
    case granteeRevoked = 406
    case unknownPurpose = 407
    case unknownDelegate = 408
    case tooManyDelegates = 409

    case auditNotGrowing = 500

    // Supply chain (700–749)
    /// No product is registered under that GTIN.
    case unknownProduct = 700
    /// A product with that GTIN is already registered.
    case productAlreadyRegistered = 701
    /// Not a GTIN-14 with a valid GS1 check digit.
    case invalidGTIN = 702
    /// A serial is not 1–20 characters of letters, digits and -._
    case invalidSerial = 703
    /// A lot number is not 1–20 characters of letters, digits and -._
    case invalidLot = 704
    /// That serial is already commissioned (or listed twice).
    case serialAlreadyCommissioned = 705
    /// No unit was commissioned under that GTIN and serial.
    case unknownUnit = 706
    /// The acting organization does not own that unit or case.
    case notOwner = 707
    /// The unit or case is shipped and not yet received.
    case unitInTransit = 708
    /// The unit was already dispensed.
    case unitDispensed = 709
    /// The unit's lot is recalled.
    case unitRecalled = 710
    /// The unit is quarantined as suspect product.
    case unitSuspect = 711
    /// The unit is past its expiry.
    case unitExpired = 712
    /// The unit was decommissioned.
    case unitDecommissioned = 713
    /// The unit is packed in a case: act on the case, or unpack it first.
    case unitInCase = 714
    /// Not an SSCC-18 with a valid GS1 check digit.
    case invalidSSCC = 715
    /// A case with that SSCC was already packed.
    case caseAlreadyExists = 716
    /// No case was packed under that SSCC.
    case unknownCase = 717
    /// The case was already unpacked.
    case caseUnpacked = 718
    /// The recipient is not a registered, active organization that may hold product.
    case invalidRecipient = 719
    /// Receive before ship: nothing was shipped to anyone.
    case nothingToReceive = 720
    /// The unit or case was shipped to another organization.
    case notPendingRecipient = 721
    /// The named sender is not the organization that shipped it (never owned it).
    case notShipper = 722
    /// No unit was commissioned in that lot.
    case unknownLot = 723
    /// The lot is already recalled.
    case lotRecalled = 724
    /// The lot was commissioned with another expiry.
    case lotExpiryConflict = 725
    /// The unit is not quarantined, so there is nothing to clear.
    case unitNotSuspect = 726
    /// The unit's custody history is full; it can only be decommissioned or dispensed.
    case custodyHistoryFull = 727
    /// The sender is not a supply-chain party allowed to do this (organization type or role).
    case notSupplyParty = 728
    /// Only the product's manufacturer (or, where allowed, a regulator) may do this.
    case notManufacturer = 729
    /// Unknown recall, quarantine or decommission reason code.
    case unknownReason = 730
    /// The call would touch more units than one transaction may.
    case tooManyUnits = 731
    /// The expiry is not after the block time.
    case expiryNotInFuture = 732

    // Prescriptions (750–799)
    /// No prescription with that id.
    case unknownPrescription = 750
    /// The prescription has expired.
    case prescriptionExpired = 751
    /// Every fill (1 + refills) was used.
    case noFillsLeft = 752
    /// A unit is not of the prescribed GTIN.
    case wrongProduct = 753
    /// The prescription was cancelled.
    case prescriptionCancelled = 754
    /// Only a clinician of a hospital or clinic issues prescriptions.
    case notPrescriber = 755
    /// Only a pharmacy or hospital (its key or a pharmacist) fills prescriptions.
    case notPharmacy = 756
    /// The prescription's expiry is not after the block time or is more than a year later.
    case badPrescriptionPeriod = 757
    /// The number of units dispensed is not the quantity per fill.
    case wrongQuantity = 758
    /// Only the issuing prescriber or their organization cancels a prescription.
    case notIssuer = 759

    /// A short, stable name for logs and JSON.
    public var name: String { String(describing: self) }
}

/// A contract's refusal: a stable code and a human message (ids and codes only, never PHI).
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ResultCode
    public let message: String

    public init(_ code: ResultCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The on-chain result form.
    public var result: TransactionResult { TransactionResult(code: code.rawValue, message: message) }
    public var description: String { "\(code.name) (\(code.rawValue)): \(message)" }
}
