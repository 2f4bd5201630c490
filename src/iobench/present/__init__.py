"""What people read: report tables and sentences, figures, labels, the comparison table and the README's docs.

Everything here is drawn from results documents and their analysis alone.
"""
