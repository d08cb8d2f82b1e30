"""The Telegram bot's pure rules: commands, the flood gate, confirmations, message texts and
token masking. No Django, no network, no clock of its own."""
