"""hotspare core: inventory, connections, probes, state, actions. Never imports textual."""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# cryptography 51 deprecates DSA, and asyncssh 2.24 imports it at start-up:
# ten warning lines before every command. Only that category, only from
# asyncssh's modules, is silenced; every other warning still shows.
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh\.")
