import QuarryCore

/// Without --dev, fine-tuning holds out a tenth of the training file to choose its epoch: a
/// sample like the rest of the file (not its last tenth: a file sorted by name or label ends
/// unlike the rest), whole groups of near-duplicates at a time (`NearDuplicateGroups`), those
/// whose key is 0 modulo 10. Measured on the Debian sections in
/// reports/journal/2026-11-29-issue6-grouped-held-out-tenth.md.
/// The low digits are used because `quarry export --split` cuts on the key's top bits, so a
/// `train.jsonl` it wrote still has a tenth to hold out.
public struct HeldOutTenth: Sendable {
    /// Whether each text, in the order given, is held out.
    public let isHeldOut: [Bool]
    /// How many groups of near-duplicates the texts form.
    public let groupCount: Int

    public init(_ texts: [String]) {
        let groups = NearDuplicateGroups(texts)
        groupCount = groups.count
        isHeldOut = groups.keys.map { UInt64(bitPattern: $0) % 10 == 0 }
    }

    /// Examples divided by their texts: those of the held-out tenth, and the rest.
    public struct Split<Example> {
        public var kept: [Example] = []
        public var heldOut: [Example] = []
        /// How many groups of near-duplicates the texts formed.
        public private(set) var groups = 0

        public init(_ examples: [Example], texts: [String]) {
            let tenth = HeldOutTenth(texts)
            groups = tenth.groupCount
            for (example, held) in zip(examples, tenth.isHeldOut) {
                if held { heldOut.append(example) } else { kept.append(example) }
            }
        }

        /// At least one example on each side (a tiny set may hash all one way); throws when
        /// there are too few to divide.
        public mutating func balance(file: String) throws {
            if heldOut.isEmpty, kept.count >= 2, let last = kept.popLast() { heldOut.append(last) }
            if kept.isEmpty, heldOut.count >= 2, let last = heldOut.popLast() { kept.append(last) }
            guard !kept.isEmpty, !heldOut.isEmpty else {
                throw QuarryError("\(file) has one example: too few to hold out a dev set; give more, or --dev FILE")
            }
        }

        /// What was held out, for the user.
        public var summary: String {
            "dev: \(heldOut.count) of the \(kept.count + heldOut.count) examples held out (a tenth of their \(groups) groups of near-duplicate texts, chosen by hash; --dev FILE to choose them)"
        }
    }
}
