"""hotspare core: inventory, connections, probes, state, actions. Never imports textual."""

import warnings

# cryptography 51 deprecates DSA, and asyncssh 2.24 imports it at start-up:
# ten warning lines before every command. Only that message, only from
# asyncssh's modules, is silenced; every other warning still shows. (Its
# category, cryptography's CryptographyDeprecationWarning, is a UserWarning;
# naming it here would import cryptography before `hotspare status` needs it.)
warnings.filterwarnings(
    "ignore", message="DSA is deprecated", category=UserWarning, module=r"asyncssh\."
)
