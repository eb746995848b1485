import Crypto
import Foundation
import LedgerCore
import Services
import Testing

/// The browser's verifier (`Sources/Portal/Assets/verify.js`) and the node's Swift code check the
/// same file, `Sources/Portal/Assets/verifier-vectors.json`: the JavaScript runs it in the browser
/// before every verification (and `PortalBrowserTests` requires it to pass), and these tests run
/// every case through LedgerCore's `MerkleVerifier` and `SignedTreeHead`, so the two cannot drift.
/// `CARELEDGER_WRITE_PORTAL_VECTORS=1` writes the file anew from LedgerCore's published vectors and
/// tree heads signed here (then commit it).
@Suite("Portal verifier vectors: one file for the JavaScript verifier and the Swift one")
struct PortalVectorTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let file = packageRoot.appendingPathComponent("Sources/Portal/Assets/verifier-vectors.json")
    static let published = packageRoot.appendingPathComponent("Tests/LedgerCoreTests/Vectors/merkle/rfc6962-vectors.json")

    static func load(_ url: URL) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    static func bytes(_ hex: Any?) -> [UInt8] { (hex as? String).flatMap(Hex.decode) ?? [] }
    static func cases(_ object: [String: Any], _ name: String) -> [[String: Any]] { object[name] as? [[String: Any]] ?? [] }

    @Test func everyMerkleCaseIsDecidedAsTheSwiftVerifierDecidesIt() throws {
        let vectors = try Self.load(Self.file)
        let leaves = Self.cases(vectors, "leaves"), inclusion = Self.cases(vectors, "inclusion"), consistency = Self.cases(vectors, "consistency")
        #expect(leaves.count == 8)
        for leaf in leaves {
            #expect(MerkleHashing.leafHash(Self.bytes(leaf["input"])).hex == leaf["leaf_hash"] as? String)
        }
        for c in inclusion {
            // Some published cases have negative indices: no 64-bit unsigned index, so no proof (verify.js: the same).
            let index = c["leaf_index"] as? Int ?? -1, size = c["tree_size"] as? Int ?? -1
            let accepted = index >= 0 && size >= 0 && (try? MerkleVerifier.verifyInclusion(
                leafHash: Self.bytes(c["leaf_hash"]), index: UInt64(index), size: UInt64(size),
                proof: (c["proof"] as? [String] ?? []).map(Self.bytes), root: Self.bytes(c["root"]))) != nil
            #expect(accepted == c["valid"] as? Bool, "\(c["name"] ?? "?")")
        }
        for c in consistency {
            let first = c["size1"] as? Int ?? -1, second = c["size2"] as? Int ?? -1
            let accepted = first >= 0 && second >= 0 && (try? MerkleVerifier.verifyConsistency(
                first: UInt64(first), second: UInt64(second), firstRoot: Self.bytes(c["root1"]),
                secondRoot: Self.bytes(c["root2"]), proof: (c["proof"] as? [String] ?? []).map(Self.bytes))) != nil
            #expect(accepted == c["valid"] as? Bool, "\(c["name"] ?? "?")")
        }
        // Both kinds of proof have cases that must pass and cases that must fail.
        for kind in [inclusion, consistency] {
            #expect(kind.contains { $0["valid"] as? Bool == true } && kind.filter { $0["valid"] as? Bool == false }.count >= 15)
        }
        // Every Merkle case is one of LedgerCore's published or generated vectors, unchanged.
        let source = try Self.load(Self.published)
        for (name, list) in [("inclusion", inclusion), ("consistency", consistency)] {
            let byName = Dictionary(Self.cases(source, name).map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            for c in list {
                let original = try #require(byName[c["name"] as? String ?? ""], "\(c["name"] ?? "?") is not in rfc6962-vectors.json")
                let same = try JSONSerialization.data(withJSONObject: original, options: .sortedKeys) == JSONSerialization.data(withJSONObject: c, options: .sortedKeys)
                #expect(same, "\(c["name"] ?? "?") differs from rfc6962-vectors.json")
            }
        }
    }

    @Test func everyTreeHeadCaseIsDecidedAsTheSwiftSideDecidesIt() throws {
        let heads = Self.cases(try Self.load(Self.file), "tree_heads")
        #expect(heads.count >= 8)
        #expect(heads.contains { $0["valid"] as? Bool == true } && heads.contains { $0["valid"] as? Bool == false })
        for c in heads {
            let sth = try #require(c["sth"] as? [String: Any])
            let root = try #require((sth["sha256_root_hash"] as? String).flatMap(Base64.decode).flatMap(Hash256.init(bytes:)))
            let timestamp = try #require((sth["timestamp"] as? NSNumber)?.uint64Value), size = try #require((sth["tree_size"] as? NSNumber)?.uint64Value)
            // The bytes the JavaScript builds (it compares with signed_message) are the bytes the node signs.
            let message = SignedTreeHead.message(timestampMs: timestamp, treeSize: size, root: root)
            #expect(Hex.encode(message) == c["signed_message"] as? String, "\(c["name"] ?? "?")")
            let key = try Curve25519.Signing.PublicKey(rawRepresentation: try #require((c["public_key"] as? String).flatMap(Base64.decode)))
            let signature = (sth["tree_head_signature"] as? String).flatMap(SignedTreeHead.signature(digitallySigned:))
            let accepted = signature.map { key.isValidSignature($0, for: message) } ?? false
            #expect(accepted == c["valid"] as? Bool, "\(c["name"] ?? "?")")
        }
    }

    /// Writes the vector file (only with CARELEDGER_WRITE_PORTAL_VECTORS=1).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["CARELEDGER_WRITE_PORTAL_VECTORS"] == "1", "writes the vector file on request only"))
    func writeTheVectorFile() throws {
        let source = try Self.load(Self.published)
        // Published cases: every valid one, and the first of each kind of damage; generated ones for trees of 7 and 8 leaves.
        func pick(_ list: [[String: Any]], generatedSize: String) -> [[String: Any]] {
            var seen = Set<String>()
            return list.filter { c in
                if c["source"] as? String == "generated" { return [7, 8].contains(c[generatedSize] as? Int ?? 0) }
                if c["valid"] as? Bool == true { return true }
                return seen.insert(c["desc"] as? String ?? "").inserted
            }
        }
        let inclusion = pick(Self.cases(source, "inclusion"), generatedSize: "tree_size")
        let consistency = pick(Self.cases(source, "consistency"), generatedSize: "size2")
        let roots = Self.cases(source, "roots")
        let root8 = try #require(Hash256(bytes: Self.bytes(roots.first { $0["tree_size"] as? Int == 8 }?["root"])))
        let root7 = try #require(Hash256(bytes: Self.bytes(roots.first { $0["tree_size"] as? Int == 7 }?["root"])))
        let node = IdentityKeys(seed: Array(repeating: 0x2a, count: 32)), other = IdentityKeys(seed: Array(repeating: 0x2b, count: 32))
        func head(_ name: String, valid: Bool, timestamp: UInt64 = 1_800_000_000_000, size: UInt64 = 8, root: Hash256 = root8,
                  signer: IdentityKeys = node, signed: (UInt64, UInt64, Hash256)? = nil, edit: ([UInt8]) -> [UInt8] = { $0 }) -> [String: Any] {
            let (t, s, r) = signed ?? (timestamp, size, root)
            let signature = signer.sign(SignedTreeHead.message(timestampMs: t, treeSize: s, root: r))
            let digitallySigned = edit(SignedTreeHead.signatureScheme + [0, 64] + signature)
            return ["name": name, "valid": valid, "public_key": Data(node.signingPublicKey.rawValue).base64EncodedString(),
                    "sth": ["timestamp": timestamp, "tree_size": size, "sha256_root_hash": root.base64,
                            "tree_head_signature": Data(digitallySigned).base64EncodedString()],
                    "signed_message": Hex.encode(SignedTreeHead.message(timestampMs: timestamp, treeSize: size, root: root))]
        }
        let heads: [[String: Any]] = [
            head("sth/valid", valid: true),
            head("sth/valid-large-sizes", valid: true, timestamp: (1 << 53) - 1, size: (1 << 40) + 3),
            head("sth/signature-bit-flipped", valid: false) { var b = $0; b[10] ^= 0x04; return b },
            head("sth/timestamp-changed", valid: false, timestamp: 1_800_000_000_001, signed: (1_800_000_000_000, 8, root8)),
            head("sth/tree-size-changed", valid: false, size: 7, signed: (1_800_000_000_000, 8, root8)),
            head("sth/root-changed", valid: false, root: root7, signed: (1_800_000_000_000, 8, root8)),
            head("sth/another-key", valid: false, signer: other),
            head("sth/wrong-signature-scheme", valid: false) { var b = $0; (b[0], b[1]) = (0x04, 0x03); return b },
            head("sth/truncated-signature", valid: false) { Array($0.dropLast()) },
        ]
        let object: [String: Any] = [
            "format": "careledger-portal-verifier-vectors/1",
            "about": "Checked by the portal's verify.js in the browser and by PortalVectorTests in Swift. Merkle cases are LedgerCore's "
                + "Tests/LedgerCoreTests/Vectors/merkle/rfc6962-vectors.json (published transparency-dev/merkle cases, Apache-2.0, and "
                + "generated ones), hex; tree heads are get-sth objects (base64) signed by a fixed test key, with the RFC 6962 "
                + "TreeHeadSignature bytes the verifier must build (signed_message, hex). A verifier accepts exactly the cases with valid=true.",
            "leaves": Self.cases(source, "leaves"), "inclusion": inclusion, "consistency": consistency, "tree_heads": heads,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        try data.write(to: Self.file)
    }
}
