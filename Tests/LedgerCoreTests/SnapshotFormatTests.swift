import LedgerCore
import Testing

/// The bytes of checkpoints and snapshots: `CheckpointStatement` (one organization's signed word
/// on a snapshot, and which claims a quorum certified) and `SnapshotFrame` (the length-prefixed
/// frames a snapshot is made of). Store-level writing and installing are in NodeTests'
/// SnapshotStoreTests.
@Suite("SnapshotFormat: checkpoint statements and snapshot frames")
struct SnapshotFormatTests {
    static let chainId = "snapshot-format"
    /// Four organizations the `organizationKey` closure knows, then an outsider it does not.
    static let organizations = (81...85).map { IdentityKeys(seed: Array(repeating: UInt8($0), count: 32)) }
    static let outsider = 4

    /// A test argument shown by its name (not its bytes) in the test log.
    struct Case<Value: Sendable>: Sendable, CustomTestStringConvertible {
        let name: String
        let value: Value
        init(_ name: String, _ value: Value) { (self.name, self.value) = (name, value) }
        var testDescription: String { name }
    }

    static func organizationKey(_ id: IdentityID) -> SigningPublicKey? {
        organizations.prefix(4).first { $0.derivedID == id }?.signingPublicKey
    }

    // MARK: CheckpointStatement

    /// The statement `organizations[org]` signs about the snapshot at `height` (`variant` picks
    /// another digest, so another claim at the same height).
    static func statement(_ org: Int, height: UInt64 = 10, variant: Int = 0, chainId: String = chainId) -> CheckpointStatement {
        forged(org, signedBy: org, height: height, variant: variant, chainId: chainId)
    }

    /// A statement that names `organizations[org]` as the attester but is signed by `organizations[signer]`.
    static func forged(_ org: Int, signedBy signer: Int, height: UInt64 = 10, variant: Int = 0, chainId: String = chainId) -> CheckpointStatement {
        let unsigned = CheckpointStatement(chainId: chainId, height: height, blockHash: Hash256.sha256(Array("block \(height)".utf8)),
                                           snapshotDigest: Hash256.sha256(Array("snapshot \(height) \(variant)".utf8)),
                                           snapshotBytes: 1_000 + height, attester: organizations[org].derivedID, signature: [])
        return with(unsigned, signature: organizations[signer].sign(unsigned.signedMessage))
    }

    static func with(_ s: CheckpointStatement, chainId: String? = nil, height: UInt64? = nil, blockHash: Hash256? = nil, digest: Hash256? = nil,
                     bytes: UInt64? = nil, attester: IdentityID? = nil, signature: [UInt8]? = nil) -> CheckpointStatement {
        CheckpointStatement(chainId: chainId ?? s.chainId, height: height ?? s.height, blockHash: blockHash ?? s.blockHash,
                            snapshotDigest: digest ?? s.snapshotDigest, snapshotBytes: bytes ?? s.snapshotBytes,
                            attester: attester ?? s.attester, signature: signature ?? s.signature)
    }

    static func header(height: UInt64) -> BlockHeader {
        BlockHeader(chainId: chainId, height: height, previousHash: Hash256.sha256([1]), timeMs: 1_700_000_000_000, transactionCount: 2,
                    transactionsRoot: Hash256.sha256([2]), logSize: 40, logRoot: Hash256.sha256([3]), resultsRoot: Hash256.sha256([4]),
                    stateRoot: Hash256.sha256([5]), ordererKey: organizations[3].signingPublicKey)
    }

    @Test func signTakesTheHeadersFieldsAndRoundTrips() throws {
        let header = Self.header(height: 1_000)
        let signer = Self.organizations[0]
        let statement = CheckpointStatement.sign(header, digest: Hash256.sha256([9]), bytes: 123_456, attester: signer)
        #expect(statement.chainId == Self.chainId)
        #expect(statement.height == 1_000)
        #expect(statement.blockHash == header.hash)
        #expect(statement.snapshotDigest == Hash256.sha256([9]))
        #expect(statement.snapshotBytes == 123_456)
        #expect(statement.attester == signer.derivedID)
        #expect(statement.signature.count == 64)

        let encoded = statement.encoded
        #expect(encoded.count <= CheckpointStatement.encodedBytesMax)
        let decoded = try CheckpointStatement(decoding: encoded)
        #expect(decoded == statement)
        #expect(decoded.claim == statement.claim)
        #expect(decoded.encoded == encoded, "the encoding is canonical")
        #expect(decoded.isSigned(by: signer.signingPublicKey))
    }

    @Test func verifiesWithTheSignersKeyAndNoOther() {
        let statement = Self.statement(1)
        #expect(statement.isSigned(by: Self.organizations[1].signingPublicKey))
        for other in [0, 2, 3, Self.outsider] {
            #expect(!statement.isSigned(by: Self.organizations[other].signingPublicKey), "organization \(other)")
        }
        #expect(!Self.forged(1, signedBy: Self.outsider).isSigned(by: Self.organizations[1].signingPublicKey))
        #expect(!Self.with(statement, signature: []).isSigned(by: Self.organizations[1].signingPublicKey))
    }

    /// Every signed field is covered by the signature: changing any one of them breaks it.
    @Test(arguments: ["chainId", "height", "blockHash", "snapshotDigest", "snapshotBytes", "attester"])
    func aChangedFieldFailsVerification(field: String) {
        let s = Self.statement(0)
        let changed: CheckpointStatement = switch field {
        case "chainId": Self.with(s, chainId: s.chainId + "x")
        case "height": Self.with(s, height: s.height + 1)
        case "blockHash": Self.with(s, blockHash: Hash256.sha256([0xAA]))
        case "snapshotDigest": Self.with(s, digest: Hash256.sha256([0xBB]))
        case "snapshotBytes": Self.with(s, bytes: s.snapshotBytes + 1)
        default: Self.with(s, attester: Self.organizations[1].derivedID)
        }
        #expect(changed != s)
        #expect(!changed.isSigned(by: Self.organizations[0].signingPublicKey))
    }

    /// Flipping any one bit of the encoding either makes it undecodable or gives a statement the
    /// signer's key does not verify.
    @Test func everyFlippedByteFailsDecodingOrVerification() {
        let statement = Self.statement(2)
        let key = Self.organizations[2].signingPublicKey
        let encoded = statement.encoded
        var decodedButUnsigned = 0
        for index in encoded.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var bytes = encoded
                bytes[index] ^= mask
                guard let decoded = try? CheckpointStatement(decoding: bytes) else { continue }
                decodedButUnsigned += 1
                #expect(decoded != statement, "byte \(index) mask \(mask)")
                #expect(!decoded.isSigned(by: key), "byte \(index) mask \(mask) still verifies")
            }
        }
        #expect(decodedButUnsigned > 64, "flips in the hashes and the signature decode, and do not verify")
    }

    static func canonicalBody(version: UInt8 = CheckpointStatement.formatVersion, trailing: [UInt8] = []) -> [UInt8] {
        let s = statement(0)
        var body = CanonicalWriter()
        body.write(versionByte: version)
        body.write(string: s.chainId)
        body.write(uint: s.height)
        body.write(hash: s.blockHash)
        body.write(hash: s.snapshotDigest)
        body.write(uint: s.snapshotBytes)
        body.write(hash: s.attester)
        var outer = CanonicalWriter()
        outer.write(bytes: body.bytes + trailing)
        outer.write(bytes: s.signature)
        return outer.bytes
    }

    static let refusedStatementBytes: [Case<[UInt8]>] = {
        let encoded = statement(0).encoded
        return [
            Case("no bytes", []),
            Case("one byte", [0xFF]),
            Case("garbage", (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }),
            Case("zeros", Array(repeating: 0, count: 200)),
            Case("cut short by one byte", Array(encoded.dropLast())),
            Case("a trailing byte", encoded + [0]),
            Case("over encodedBytesMax", encoded + Array(repeating: 0, count: CheckpointStatement.encodedBytesMax + 1 - encoded.count)),
            Case("far over encodedBytesMax", Array(repeating: 0x41, count: 1 << 16)),
            Case("a 63-byte signature", with(statement(0), signature: Array(statement(0).signature.dropLast())).encoded),
            Case("a 65-byte signature", with(statement(0), signature: statement(0).signature + [0]).encoded),
            Case("no signature", with(statement(0), signature: []).encoded),
            Case("version 2", canonicalBody(version: 2)),
            Case("version 0", canonicalBody(version: 0)),
            Case("a body with a trailing byte", canonicalBody(trailing: [0])),
            Case("a chain id that makes it too long", with(statement(0), chainId: String(repeating: "c", count: 600)).encoded),
        ]
    }()

    @Test func theCanonicalBodyHelperMatchesTheEncoding() throws {
        #expect(Self.canonicalBody() == Self.statement(0).encoded)
        #expect(try CheckpointStatement(decoding: Self.canonicalBody()) == Self.statement(0))
    }

    @Test(arguments: refusedStatementBytes)
    func oversizedOrMalformedStatementsAreRefused(_ bytes: Case<[UInt8]>) {
        #expect(throws: CanonicalError.self, "\(bytes.name)") { try CheckpointStatement(decoding: bytes.value) }
    }

    @Test func everyTruncationIsRefused() {
        let encoded = Self.statement(3).encoded
        for count in 0..<encoded.count {
            #expect(throws: CanonicalError.self, "\(count) of \(encoded.count) bytes") { try CheckpointStatement(decoding: Array(encoded.prefix(count))) }
        }
    }

    @Test func anOversizedStatementIsRefusedBeforeItIsRead() {
        let bytes = Array(repeating: UInt8(0), count: CheckpointStatement.encodedBytesMax + 1)
        #expect(throws: CanonicalError.lengthTooLarge(offset: 0, length: UInt64(bytes.count), max: CheckpointStatement.encodedBytesMax)) {
            try CheckpointStatement(decoding: bytes)
        }
    }

    // MARK: certified

    /// A claim expected to be certified: its height and variant, and the organizations that count.
    struct Expected: Sendable, Equatable, CustomStringConvertible {
        let height: UInt64
        let variant: Int
        let signers: [Int]
        var description: String { "\(height)/\(variant) by \(signers)" }
    }

    struct CertifiedRow: Sendable, CustomTestStringConvertible {
        let name: String
        let quorum: Int
        let statements: @Sendable () -> [CheckpointStatement]
        let expected: [Expected]
        var testDescription: String { name }
    }

    static let certifiedRows: [CertifiedRow] = [
        CertifiedRow(name: "three of four on one claim, quorum 3", quorum: 3,
                     statements: { [statement(0), statement(1), statement(2)] }, expected: [Expected(height: 10, variant: 0, signers: [0, 1, 2])]),
        CertifiedRow(name: "all four on one claim: all four listed", quorum: 3,
                     statements: { [statement(3), statement(1), statement(0), statement(2)] },
                     expected: [Expected(height: 10, variant: 0, signers: [0, 1, 2, 3])]),
        CertifiedRow(name: "two signers, below quorum 3", quorum: 3, statements: { [statement(0), statement(1)] }, expected: []),
        CertifiedRow(name: "no statements", quorum: 1, statements: { [] }, expected: []),
        CertifiedRow(name: "the same organization three times counts once", quorum: 2,
                     statements: { [statement(0), statement(0), statement(0)] }, expected: []),
        CertifiedRow(name: "the same organization twice plus one other reaches quorum 2, not 3", quorum: 2,
                     statements: { [statement(0), statement(0), statement(1)] }, expected: [Expected(height: 10, variant: 0, signers: [0, 1])]),
        CertifiedRow(name: "an organization that signs two claims at one height counts for neither", quorum: 3,
                     statements: { [statement(0, variant: 0), statement(0, variant: 1), statement(1, variant: 1), statement(2, variant: 1)] },
                     expected: []),
        CertifiedRow(name: "an equivocating organization counts for neither claim, so neither reaches quorum 2", quorum: 2,
                     statements: { [statement(0, variant: 1), statement(0, variant: 0), statement(1, variant: 1), statement(2, variant: 0)] },
                     expected: []),
        CertifiedRow(name: "an equivocating organization's claims count for neither, the others' still certify", quorum: 2,
                     statements: { [statement(0, variant: 1), statement(0, variant: 0), statement(1, variant: 0), statement(2, variant: 0)] },
                     expected: [Expected(height: 10, variant: 0, signers: [1, 2])]),
        CertifiedRow(name: "split votes at one height certify neither", quorum: 3,
                     statements: { [statement(0), statement(1), statement(2, variant: 1), statement(3, variant: 1)] }, expected: []),
        CertifiedRow(name: "an organization counts once at every height", quorum: 3,
                     statements: { [0, 1, 2].flatMap { [statement($0, height: 10), statement($0, height: 20)] } },
                     expected: [Expected(height: 20, variant: 0, signers: [0, 1, 2]), Expected(height: 10, variant: 0, signers: [0, 1, 2])]),
        CertifiedRow(name: "an unknown key does not count", quorum: 3,
                     statements: { [statement(0), statement(1), statement(outsider)] }, expected: []),
        CertifiedRow(name: "a forged signature does not count", quorum: 3,
                     statements: { [statement(0), statement(1), forged(2, signedBy: outsider)] }, expected: []),
        CertifiedRow(name: "a forged signature does not take the organization's place", quorum: 3,
                     statements: { [forged(2, signedBy: outsider), forged(2, signedBy: 0), statement(0), statement(1), statement(2)] },
                     expected: [Expected(height: 10, variant: 0, signers: [0, 1, 2])]),
        CertifiedRow(name: "a field changed after signing does not count", quorum: 3,
                     statements: { [statement(0), statement(1), with(statement(2), bytes: 1_011)] }, expected: []),
        CertifiedRow(name: "an empty signature does not count", quorum: 3,
                     statements: { [statement(0), statement(1), with(statement(2), signature: [])] }, expected: []),
        CertifiedRow(name: "another chain's statements do not count", quorum: 3,
                     statements: { [statement(0, chainId: "other"), statement(1, chainId: "other"), statement(2, chainId: "other")] },
                     expected: []),
        CertifiedRow(name: "another chain's statement does not join this chain's", quorum: 3,
                     statements: { [statement(0), statement(1), statement(2, chainId: "other")] }, expected: []),
        CertifiedRow(name: "another chain's statement does not take the organization's place", quorum: 3,
                     statements: { [statement(2, variant: 1, chainId: "other"), statement(0), statement(1), statement(2)] },
                     expected: [Expected(height: 10, variant: 0, signers: [0, 1, 2])]),
        CertifiedRow(name: "highest height first", quorum: 2,
                     statements: { [10, 30, 20, 5].flatMap { h in [statement(0, height: h), statement(3, height: h)] } },
                     expected: [30, 20, 10, 5].map { Expected(height: $0, variant: 0, signers: [0, 3]) }),
        CertifiedRow(name: "only the heights that reached the quorum, highest first", quorum: 3,
                     statements: {
                         [statement(0, height: 40), statement(1, height: 40)]
                             + [0, 1, 2].map { statement($0, height: 30) } + [1, 2, 3].map { statement($0, height: 50) }
                     },
                     expected: [Expected(height: 50, variant: 0, signers: [1, 2, 3]), Expected(height: 30, variant: 0, signers: [0, 1, 2])]),
    ]

    static func expectedClaim(_ expected: Expected) -> (claim: CheckpointStatement.Claim, attesters: [IdentityID]) {
        (statement(0, height: expected.height, variant: expected.variant).claim,
         expected.signers.map { organizations[$0].derivedID }.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
    }

    @Test(arguments: certifiedRows)
    func certified(_ row: CertifiedRow) {
        let got = CheckpointStatement.certified(row.statements(), chainId: Self.chainId, quorum: row.quorum, organizationKey: Self.organizationKey)
        let want = row.expected.map(Self.expectedClaim)
        #expect(got.map(\.claim) == want.map(\.claim), "\(row.name): claims (expected \(row.expected))")
        #expect(got.map(\.attesters) == want.map(\.attesters), "\(row.name): attesters")
    }

    @Test func certifiedAsksForEachAttestersKey() {
        // A key lookup that knows only organization 1: the others are not active organizations.
        let got = CheckpointStatement.certified([Self.statement(0), Self.statement(1), Self.statement(2)], chainId: Self.chainId, quorum: 1) {
            $0 == Self.organizations[1].derivedID ? Self.organizations[1].signingPublicKey : nil
        }
        #expect(got.count == 1)
        #expect(got.first?.attesters == [Self.organizations[1].derivedID])
    }

    // MARK: SnapshotFrame

    static let sampleFrames: [Case<SnapshotFrame>] = [
        Case("head", .head(chainId: chainId, block: RawBlock(headerBytes: Array(0..<120), signature: Array(repeating: 7, count: 64),
                                                transactionBytes: [Array(repeating: 1, count: 300), [2, 3]], resultBytes: [[4], []]))),
        Case("empty head", .head(chainId: "", block: RawBlock(headerBytes: [], signature: [], transactionBytes: [], resultBytes: []))),
        Case("state", .state([SnapshotStateEntry(key: "anchor/a", value: [1, 2, 3], height: 3),
                              SnapshotStateEntry(key: "identity/é", value: [], height: 0),
                              SnapshotStateEntry(key: "z", value: Array(repeating: 0xEE, count: 5_000), height: 1_000_000)])),
        Case("no state", .state([])),
        Case("transactions", .transactions([
            SnapshotTransactionEntry(id: Hash256.sha256([1]), leafHash: Hash256.sha256([2]), height: 0, result: [0x10, 0x20]),
            SnapshotTransactionEntry(id: Hash256.sha256([3]), leafHash: Hash256.sha256([4]), height: 7, result: []),
        ])),
        Case("no transactions", .transactions([])),
        Case("end of nothing", .end(stateEntries: 0, transactions: 0)),
        Case("end of a lot", .end(stateEntries: 123_456_789, transactions: UInt64(Int64.max))),
    ]

    static func body(_ frame: SnapshotFrame) -> [UInt8] { Array(frame.framed.dropFirst(4)) }

    @Test(arguments: sampleFrames)
    func eachFrameRoundTrips(_ sample: Case<SnapshotFrame>) throws {
        let frame = sample.value
        let framed = frame.framed
        let length = try SnapshotFrame.length(prefix: Array(framed.prefix(4)))
        #expect(length == framed.count - 4)
        let decoded = try SnapshotFrame(decoding: Array(framed.dropFirst(4)))
        #expect(decoded == frame)
        #expect(decoded.framed == framed, "the encoding is canonical")
    }

    @Test func theLengthPrefixIsFourBytesBigEndian() throws {
        let small = SnapshotFrame.end(stateEntries: 0, transactions: 0).framed
        #expect(Array(small.prefix(3)) == [0, 0, 0])
        #expect(Int(small[3]) == small.count - 4)
        let large = SnapshotFrame.state([SnapshotStateEntry(key: "k", value: Array(repeating: 9, count: 70_000), height: 1)]).framed
        let n = large.count - 4
        #expect(Array(large.prefix(4)) == [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)])
        #expect(try SnapshotFrame.length(prefix: [0x01, 0x02, 0x03, 0x04]) == 0x01020304)
        #expect(try SnapshotFrame.length(prefix: [0, 0, 0, 1]) == 1)
        let max = SnapshotFrame.frameBytesMax
        #expect(try SnapshotFrame.length(prefix: [UInt8(max >> 24), UInt8(max >> 16 & 0xFF), UInt8(max >> 8 & 0xFF), UInt8(max & 0xFF)]) == max)
    }

    static let refusedPrefixes: [Case<[UInt8]>] = {
        let over = SnapshotFrame.frameBytesMax + 1
        return [
            Case("a length of 0", [0, 0, 0, 0]),
            Case("frameBytesMax + 1", [UInt8(over >> 24), UInt8(over >> 16 & 0xFF), UInt8(over >> 8 & 0xFF), UInt8(over & 0xFF)]),
            Case("the largest 4-byte length", [0xFF, 0xFF, 0xFF, 0xFF]),
            Case("2^31", [0x80, 0, 0, 0]),
            Case("no bytes", []),
            Case("three bytes", [0, 0, 1]),
            Case("five bytes", [0, 0, 0, 0, 1]),
        ]
    }()

    @Test(arguments: refusedPrefixes)
    func badLengthPrefixesAreRefused(_ prefix: Case<[UInt8]>) {
        #expect(Self.isMalformed { try SnapshotFrame.length(prefix: prefix.value) }, "\(prefix.name)")
    }

    /// Whether `body` throws `SnapshotError.malformed` (and nothing else).
    static func isMalformed(_ body: () throws -> Any) -> Bool {
        do {
            _ = try body()
            return false
        } catch let error as SnapshotError {
            if case .malformed = error { return true }
            return false
        } catch {
            return false
        }
    }

    @Test(arguments: [0, 5, 6, 0x7F, 0xFF] as [UInt8])
    func anUnknownKindIsRefused(kind: UInt8) {
        // A well-formed end frame's body under another kind byte.
        let bytes = [kind] + Self.body(.end(stateEntries: 1, transactions: 2)).dropFirst()
        #expect(throws: SnapshotError.malformed("unknown frame kind \(kind)")) { try SnapshotFrame(decoding: bytes) }
    }

    @Test(arguments: sampleFrames)
    func everyTruncationIsRefused(_ frame: Case<SnapshotFrame>) {
        let bytes = Self.body(frame.value)
        for count in 0..<bytes.count {
            #expect(Self.isMalformed { try SnapshotFrame(decoding: Array(bytes.prefix(count))) }, "\(count) of \(bytes.count) bytes")
        }
    }

    @Test(arguments: sampleFrames)
    func trailingBytesAreRefused(_ frame: Case<SnapshotFrame>) {
        for trailing: [UInt8] in [[0], [0xFF], Self.body(.end(stateEntries: 0, transactions: 0))] {
            #expect(Self.isMalformed { try SnapshotFrame(decoding: Self.body(frame.value) + trailing) }, "trailing \(trailing)")
        }
    }

    @Test func aHeadWithoutTheMagicIsRefused() {
        var writer = CanonicalWriter()
        writer.write(versionByte: 1)
        writer.write(string: "careledger/snapshot/v2")
        writer.write(string: Self.chainId)
        writer.write(bytes: [1])
        writer.write(bytes: [2])
        writer.write(uint: 0)
        #expect(throws: SnapshotError.malformed("not a CareLedger snapshot (version 1)")) { try SnapshotFrame(decoding: writer.bytes) }
    }

    /// A count no frame of its length could hold is refused before any entry is read (no huge loop or allocation).
    @Test(arguments: [2, 3] as [UInt8])
    func anEntryCountLargerThanTheFrameIsRefused(kind: UInt8) {
        var writer = CanonicalWriter()
        writer.write(versionByte: kind)
        writer.write(uint: 1 << 40)
        #expect(Self.isMalformed { try SnapshotFrame(decoding: writer.bytes) })
    }

    @Test func anEntryWithAShortHashOrANonUTF8KeyIsRefused() {
        // A transaction entry whose id is 31 bytes.
        var writer = CanonicalWriter()
        writer.write(versionByte: 3)
        writer.write(uint: 1)
        writer.write(bytes: Array(repeating: UInt8(1), count: 31))
        writer.write(hash: Hash256.sha256([2]))
        writer.write(uint: 1)
        writer.write(bytes: [])
        #expect(Self.isMalformed { try SnapshotFrame(decoding: writer.bytes) })
        // A state entry whose key is not UTF-8: the key's bytes written as a string's would be.
        var good = CanonicalWriter()
        good.write(versionByte: 2)
        good.write(uint: 1)
        good.write(string: "ab")
        good.write(bytes: [1])
        good.write(uint: 1)
        var bad = good.bytes
        let at = bad.firstIndex(of: UInt8(ascii: "a"))!
        bad[at] = 0xC0
        #expect(Self.isMalformed { try SnapshotFrame(decoding: bad) })
    }
}
